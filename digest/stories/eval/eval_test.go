package eval

import (
	"math"
	"testing"
)

func TestNMIPurity(t *testing.T) {
	tests := []struct {
		name        string
		truth, pred []string
		nmi, purity float64
	}{
		{"perfect, renamed", []string{"a", "a", "b", "b"}, []string{"x", "x", "y", "y"}, 1, 1},
		{"independent", []string{"a", "b", "a", "b"}, []string{"x", "x", "y", "y"}, 0, 0.5},
		{"one cluster", []string{"a", "a", "b", "b"}, []string{"x", "x", "x", "x"}, 0, 0.5},
		{"split cluster", []string{"a", "a", "a", "a"}, []string{"x", "x", "y", "y"}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nmi, purity := NMIPurity(tt.truth, tt.pred)
			if math.Abs(nmi-tt.nmi) > 1e-9 || math.Abs(purity-tt.purity) > 1e-9 {
				t.Fatalf("got NMI %v purity %v, want %v %v", nmi, purity, tt.nmi, tt.purity)
			}
		})
	}
}
