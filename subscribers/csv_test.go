package subscribers

import (
	"strings"
	"testing"
)

func TestCSVReader(t *testing.T) {
	in := "\ufeffEmail,Name,Topics,Edition\n" +
		"alice@example.org,Alice,Security;Economy,weekly\n" +
		"not-an-address,Bob,,\n" +
		"\n" +
		"carol@Example.ORG,,Sports,\n" +
		"dave@example.org,Dave,,monthly\n" +
		"erin@example.org,\"Erin, E.\",,\n"
	r, err := NewCSVReader(strings.NewReader(in), []string{"Security", "Economy"}, []string{"weekly", "daily"})
	if err != nil {
		t.Fatal(err)
	}
	var got []Row
	for {
		row, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, row)
	}
	if len(got) != 2 || got[0].Email != "alice@example.org" || len(got[0].Topics) != 2 || got[1].Name != "Erin, E." {
		t.Fatalf("good rows: %+v", got)
	}
	wantLines := []int{3, 5, 6}
	if len(r.Errors) != len(wantLines) {
		t.Fatalf("errors: %v", r.Errors)
	}
	for i, e := range r.Errors {
		if e.Line != wantLines[i] {
			t.Errorf("error %d on line %d, want %d: %v", i, e.Line, wantLines[i], e)
		}
	}
	for i, want := range []string{"not a valid", "unknown topic", "unknown edition"} {
		if !strings.Contains(r.Errors[i].Error(), want) {
			t.Errorf("error %d = %q, want it to mention %q", i, r.Errors[i], want)
		}
	}
	if _, err := NewCSVReader(strings.NewReader("name,topics\nx,y\n"), nil, nil); err == nil {
		t.Fatal("missing email column accepted")
	}
}
