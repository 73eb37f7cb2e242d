package feedparse

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// closeTruncated turns a feed document that was cut off into a complete
// one holding the items that were whole: XML is cut after the last
// complete <item>/<entry> (or before an incomplete one) and its open
// elements are closed; a JSON Feed keeps the items that decode. n is the
// number of complete items kept.
func closeTruncated(data []byte) (out []byte, n int, ok bool) {
	t := bytes.TrimSpace(data)
	if len(t) > 0 && t[0] == '{' {
		return closeTruncatedJSON(t)
	}
	return closeTruncatedXML(data)
}

func isItemElement(local string) bool {
	return local == "item" || local == "entry"
}

func closeTruncatedXML(data []byte) ([]byte, int, bool) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	d.Entity = xml.HTMLEntity
	type name = xml.Name
	var (
		stack     []name
		safeOff   int64
		safeStack []name
		items     int
		safeItems int
		inItem    int // depth of the open item element, 0 when none
	)
	mark := func(off int64) {
		safeOff = off
		safeStack = append(safeStack[:0], stack...)
		safeItems = items
	}
	for {
		before := d.InputOffset()
		tok, err := d.RawToken()
		if err != nil {
			if errors.Is(err, io.EOF) && len(stack) == 0 {
				return nil, 0, false // complete document: nothing to repair
			}
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if inItem == 0 && isItemElement(el.Name.Local) {
				mark(before)
				inItem = len(stack) + 1
			}
			stack = append(stack, el.Name)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, 0, false
			}
			stack = stack[:len(stack)-1]
			if inItem > 0 && len(stack) < inItem {
				inItem = 0
				items++
				mark(d.InputOffset())
			}
		}
		if inItem == 0 {
			mark(d.InputOffset())
		}
	}
	if len(safeStack) == 0 {
		return nil, 0, false
	}
	var b bytes.Buffer
	b.Write(data[:safeOff])
	for i := len(safeStack) - 1; i >= 0; i-- {
		b.WriteString("</")
		if safeStack[i].Space != "" {
			b.WriteString(safeStack[i].Space + ":")
		}
		b.WriteString(safeStack[i].Local + ">")
	}
	return b.Bytes(), safeItems, true
}

func closeTruncatedJSON(data []byte) ([]byte, int, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0, false
	}
	top := map[string]json.RawMessage{}
	var items []json.RawMessage
	sawItems := false
loop:
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			break
		}
		key, ok := kt.(string)
		if !ok {
			break
		}
		if strings.EqualFold(key, "items") {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				break
			}
			sawItems = true
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					break loop
				}
				items = append(items, raw)
			}
			if _, err := dec.Token(); err != nil { // ']'
				break
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break
		}
		top[key] = raw
	}
	if !sawItems {
		return nil, 0, false
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	list, err := json.Marshal(items)
	if err != nil {
		return nil, 0, false
	}
	top["items"] = list
	out, err := json.Marshal(top)
	if err != nil {
		return nil, 0, false
	}
	return out, len(items), true
}
