//go:build !linux

package file

// dirFoldsCase: elsewhere a directory cannot be classified here (macOS's
// APFS and HFS+ usually fold case), so every directory counts as folding
// case.
func dirFoldsCase(string) bool { return true }
