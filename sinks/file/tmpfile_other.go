//go:build !linux

package file

import "os"

// openUnnamed: only Linux has O_TMPFILE; elsewhere writes use a named temp file.
func openUnnamed(string) (*os.File, error) { return nil, errNeedNamed }

func linkUnnamed(*os.File, string) (string, error) { return "", errNeedNamed }
