//go:build !linux

package file

import "os"

// openUnnamed: only Linux has O_TMPFILE; elsewhere writes use a named temp file.
func openUnnamed(*dir) (*os.File, error) { return nil, errNeedNamed }

func linkUnnamed(*os.File, *dir, string) (string, error) { return "", errNeedNamed }
