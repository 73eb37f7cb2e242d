package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The parser's own decoding stops at the first value of the wrong type and
// reads a bare number as nanoseconds when the field is a time.Duration
// (`timeout = 30` is 30ns: every dial times out). So the document is first
// read as a plain tree and checked here against Config's shape, every key
// at once: unknown keys, values of the wrong type, durations without a unit.
// The keys at fault are pruned from the tree, so the rest still decodes and
// is validated, and one run of `digest config check` lists every problem.
//
// A new key needs nothing here: its field's type is its rule. A duration
// is refused at 0, since applyDefaults reads 0 as "not set"; a duration
// field where 0 means "off" says so with the tag `zero:"off"` (and its
// default must then not replace it).

var durationType = reflect.TypeFor[time.Duration]()

type shapeChecker struct {
	bad problemf
}

// table checks the keys of m against the toml-tagged fields of struct t,
// deleting the ones at fault.
func (k shapeChecker) table(m map[string]any, t reflect.Type, path string) {
	fields := tomlFields(t)
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := joinKey(path, name)
		f, ok := fields[name]
		if !ok {
			k.bad(key, "unknown key%s", suggest(name, fields))
			delete(m, name)
			continue
		}
		if f.Type == durationType {
			ok = k.duration(m[name], key, f.Tag.Get("zero") == "off")
		} else {
			ok = k.value(m[name], f.Type, key)
		}
		if !ok {
			delete(m, name)
		}
	}
}

// value reports whether v can be decoded into a t; when it cannot, it says
// why.
func (k shapeChecker) value(v any, t reflect.Type, key string) bool {
	if t == durationType { // in an array
		return k.duration(v, key, false)
	}
	var ok bool
	var want string
	switch t.Kind() {
	case reflect.Pointer:
		return k.value(v, t.Elem(), key)
	case reflect.Slice:
		return k.slice(v, t, key)
	case reflect.String:
		_, ok = v.(string)
		want = "a string in quotes"
	case reflect.Bool:
		_, ok = v.(bool)
		want = "true or false"
	case reflect.Int, reflect.Int64:
		_, ok = v.(int64)
		want = "a whole number"
	case reflect.Float64:
		switch v.(type) {
		case int64, float64:
			ok = true
		}
		want = "a number"
	case reflect.Struct:
		var m map[string]any
		if m, ok = v.(map[string]any); ok {
			k.table(m, t, key)
		}
		want = "a table"
	default:
		panic(fmt.Sprintf("config: no shape rule for %s (%s)", t, key))
	}
	if !ok {
		k.bad(key, "must be %s, not %s", want, describe(v))
	}
	return ok
}

// slice checks an array: of strings (keywords), or of tables ([[sources]],
// or an array of inline tables).
func (k shapeChecker) slice(v any, t reflect.Type, key string) bool {
	var elems []any
	switch a := v.(type) {
	case []any:
		elems = a
	case []map[string]any:
		for _, m := range a {
			elems = append(elems, m)
		}
	default:
		k.bad(key, "must be an array, not %s", describe(v))
		return false
	}
	ok := true
	for i, e := range elems {
		// A table element is checked inside (its bad keys pruned) and kept,
		// so later elements keep their index; a bad scalar drops the array.
		ok = k.value(e, t.Elem(), key+"."+strconv.Itoa(i)) && ok
	}
	return ok || t.Elem().Kind() == reflect.Struct
}

// duration accepts a string with a unit ("30s", "1h30m"), above zero
// unless zeroOff (then "0" is allowed and means off).
func (k shapeChecker) duration(v any, key string, zeroOff bool) bool {
	const units = `units: ms, s, m, h; e.g. "1h30m"`
	switch x := v.(type) {
	case int64:
		k.bad(key, "%d has no unit: write a string with one, such as \"%ds\" or \"%dm\" (%s)", x, x, x, units)
		return false
	case float64:
		k.bad(key, "%v has no unit: write it in quotes with a unit (%s)", x, units)
		return false
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		switch {
		case err != nil && isNumber(x):
			k.bad(key, "%q has no unit: write \"%ss\" or \"%sm\" (%s)", x, strings.TrimSpace(x), strings.TrimSpace(x), units)
		case err != nil:
			k.bad(key, "%q is not a duration (%s)", x, units)
		case d == 0 && zeroOff:
			return true
		case d == 0:
			k.bad(key, "%q: must be more than 0 (leave the key out for the default)", x)
		case d < 0:
			k.bad(key, "%q: must not be negative", x)
		default:
			return true
		}
		return false
	}
	k.bad(key, "must be a duration in quotes such as \"30s\", not %s", describe(v))
	return false
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return err == nil
}

// tomlFields maps the toml tag of each field of struct t to the field.
func tomlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out[name] = f
	}
	return out
}

// suggest names the known key closest to an unknown one: a typo is the
// usual cause.
func suggest(name string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(name, f); d < bestD || d == bestD && best != "" && f < best {
			best, bestD = f, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is Levenshtein's, for short key names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// describe names a TOML value's type for a message, with the value when
// it is short.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", x)
	case int64:
		return fmt.Sprintf("a number (%d)", x)
	case float64:
		return fmt.Sprintf("a number (%v)", x)
	case bool:
		return fmt.Sprintf("a boolean (%v)", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a date or time (%v)", v)
}

// joinKey spells path.name as the line scanner does (toml.Key.String).
func joinKey(path, name string) string {
	if path == "" {
		return toml.Key{name}.String()
	}
	return path + "." + toml.Key{name}.String()
}
