package config

import (
	"errors"
	"strings"
	"testing"
)

func TestArchiveConfig(t *testing.T) {
	c, err := Parse("c.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Archive.On() || c.Archive.PageSize != DefaultArchivePageSize || c.Archive.FeedItems != DefaultArchiveFeedItems {
		t.Errorf("defaults: %+v", c.Archive)
	}
	c, err = Parse("c.toml", []byte(minimal+"\n[archive]\nenabled = false\n"))
	if err != nil || c.Archive.On() {
		t.Errorf("enabled = false: on=%v err=%v", c.Archive.On(), err)
	}
	line := strings.Count(minimal, "\n") + 3
	for key, value := range map[string]string{"page_size": "-1", "feed_items": "1000"} {
		_, err := Parse("c.toml", []byte(minimal+"\n[archive]\n"+key+" = "+value+"\n"))
		var es Errors
		if !errors.As(err, &es) || len(es) != 1 || es[0].Key != "archive."+key || es[0].Line != line {
			t.Errorf("archive.%s = %s: %v, want one problem at line %d", key, value, err, line)
		}
	}
}
