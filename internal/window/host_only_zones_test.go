package window

import (
	"archive/zip"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A zone name must mean the same wherever rotatord runs: a name that only
// this host's zoneinfo has (posixrules, posix/..., right/...) passes
// validate here and stops the daemon in a distroless image, which has
// only Go's embedded copy. Every name of the host's zoneinfo that
// LoadZone takes must be in that copy (the toolchain's
// lib/time/zoneinfo.zip, from which time/tzdata is made).
func TestEveryZoneLoadZoneTakesIsInTheEmbeddedCopy(t *testing.T) {
	const system = "/usr/share/zoneinfo"
	if _, err := os.Stat(system); err != nil {
		t.Skipf("no system zoneinfo here: %v", err)
	}
	z, err := zip.OpenReader(filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip"))
	if err != nil {
		t.Skipf("the toolchain's zoneinfo.zip: %v", err)
	}
	defer z.Close()
	embedded := map[string]bool{}
	for _, f := range z.File {
		embedded[f.Name] = true
	}
	taken := 0
	err = filepath.WalkDir(system, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(path, system+"/")
		if _, err := LoadZone(name); err != nil {
			return nil
		}
		taken++
		switch {
		case embedded[name]:
		case strings.Contains(name, "/") && !strings.HasPrefix(name, "posix/") && !strings.HasPrefix(name, "right/"):
			// An Area/Location zone: a host whose tzdata is newer than
			// the toolchain's has zones Go's copy does not have yet. Said,
			// not failed: the CI host's tzdata package is not ours to pin.
			t.Logf("LoadZone(%q) succeeds on this host, but Go's embedded copy has no such zone (tzdata newer than the toolchain's?)", name)
		default:
			t.Errorf("LoadZone(%q) succeeds on this host, but Go's embedded copy has no such zone", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if taken < 300 {
		t.Fatalf("test premise: LoadZone took only %d names of %s", taken, system)
	}
}

func TestHostOnlyZonesNameTheZoneToWrite(t *testing.T) {
	for name, want := range map[string]string{
		"posixrules":             "name the zone",
		"posix/Europe/Zurich":    `"Europe/Zurich"`,
		"right/Europe/Zurich":    `"Europe/Zurich"`,
		"right/UTC":              "leap seconds",
		"posix/America/New_York": `"America/New_York"`,
	} {
		_, err := LoadZone(name)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("LoadZone(%q): %v, want an error naming it and saying %s", name, err, want)
		}
	}
	if _, err := LoadZone("Europe/Zurich"); err != nil {
		t.Errorf("LoadZone(Europe/Zurich): %v", err)
	}
}

// The walk above meets every zone under one name only, its path as
// written: the host's zoneinfo also opens "./Europe/Zurich",
// "Europe//Zurich" or "Europe/./Zurich", which the embedded copy, a zip
// looked up by exact name, does not have.
func TestZoneNamesWrittenAsPathsAreRefused(t *testing.T) {
	for _, name := range []string{"./Europe/Zurich", "Europe//Zurich", "Europe/./Zurich", "Europe/Zurich/", "Etc/../Europe/Zurich"} {
		_, err := LoadZone(name)
		if err == nil || !strings.Contains(err.Error(), `write "Europe/Zurich"`) || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("LoadZone(%q): %v, want an error naming it and saying write \"Europe/Zurich\"", name, err)
		}
	}
}
