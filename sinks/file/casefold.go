package file

// FoldsCase tells whether directory dir (the directory of one of the
// sink's targets, as rendered) looks names up without regard to case, so
// that "ci-RUNNER.env" there is "ci-runner.env". It is true when that
// cannot be told: the directory does not exist (yet), cannot be opened
// as a write would open it, or is on a file system rotatord cannot
// classify (dirFoldsCase). Each call inspects the directory: the engine
// asks once per directory per pass.
func (s *Sink) FoldsCase(dir string) bool { return dirFoldsCase(dir) }
