package config

import (
	"strconv"
	"strings"
)

// keyLines finds the line of every key in a TOML document. BurntSushi/toml
// knows key positions but does not export them, so this is a small scanner
// for the subset our config uses: [table], [[array]] and key = value lines.
// It records "table.key" (first occurrence) and "array.N.key" (N from 0).
func keyLines(src string) map[string]int {
	lines := map[string]int{}
	arrays := map[string]int{}
	table := ""
	indexed := ""
	for i, raw := range strings.Split(src, "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[[") {
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			table = strings.TrimSpace(line[2:end])
			idx := arrays[table]
			arrays[table]++
			indexed = table + "." + strconv.Itoa(idx)
			record(lines, table, n)
			record(lines, indexed, n)
			continue
		}
		if line[0] == '[' {
			end := strings.Index(line, "]")
			if end < 0 {
				continue
			}
			table = strings.TrimSpace(line[1:end])
			indexed = table
			record(lines, table, n)
			continue
		}
		eq := strings.Index(line, "=")
		if eq <= 0 {
			continue
		}
		key := strings.Trim(strings.TrimSpace(line[:eq]), `"'`)
		if table == "" {
			record(lines, key, n)
			continue
		}
		record(lines, table+"."+key, n)
		record(lines, indexed+"."+key, n)
	}
	return lines
}

func record(m map[string]int, key string, line int) {
	if _, ok := m[key]; !ok {
		m[key] = line
	}
}

// line returns the line of key, or of its nearest enclosing table, or 0.
func (c *Config) line(key string) int {
	for k := key; k != ""; {
		if n, ok := c.lines[k]; ok {
			return n
		}
		dot := strings.LastIndex(k, ".")
		if dot < 0 {
			break
		}
		k = k[:dot]
	}
	return 0
}
