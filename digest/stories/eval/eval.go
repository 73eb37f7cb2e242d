// Package eval scores a clustering against reference labels, for the
// stories tests and the bench/stories command.
package eval

import "math"

// NMIPurity returns the normalised mutual information (arithmetic mean of
// the two entropies) and the purity of pred against truth, which must have
// the same length. A clustering with one cluster and one label has NMI 1.
func NMIPurity(truth, pred []string) (nmi, purity float64) {
	n := float64(len(truth))
	if n == 0 {
		return 0, 0
	}
	joint := map[[2]string]float64{}
	ct, cp := map[string]float64{}, map[string]float64{}
	for i := range truth {
		joint[[2]string{truth[i], pred[i]}]++
		ct[truth[i]]++
		cp[pred[i]]++
	}
	h := func(m map[string]float64) float64 {
		var s float64
		for _, c := range m {
			s -= c / n * math.Log(c/n)
		}
		return s
	}
	var mi float64
	best := map[string]float64{}
	for k, c := range joint {
		mi += c / n * math.Log(c*n/(ct[k[0]]*cp[k[1]]))
		best[k[1]] = max(best[k[1]], c)
	}
	var correct float64
	for _, c := range best {
		correct += c
	}
	den := (h(ct) + h(cp)) / 2
	if den == 0 {
		return 1, correct / n
	}
	return mi / den, correct / n
}
