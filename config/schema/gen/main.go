// Command gen writes config/rotatord.schema.json. Run it with
// `go generate ./config` from the module root.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/rotatord/rotatord/config/schema"
)

func main() {
	out := flag.String("o", "rotatord.schema.json", "output file")
	dir := flag.String("dir", ".", "directory of package config's sources")
	importPath := flag.String("import-path", "github.com/rotatord/rotatord/config", "import path that -dir joined to it gives package config's")
	flag.Parse()
	b, err := schema.Generate(*dir, *importPath)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		log.Fatal(err)
	}
}
