package stories

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/digest"
)

var t0 = time.Date(2026, 3, 11, 12, 0, 0, 0, time.UTC)

func art(source, url, title, body string, age time.Duration) digest.Article {
	return digest.Article{
		ID: url, URL: url, Title: title, Body: digest.NewText(body),
		Source: source, SourceName: source, Published: t0.Add(-age),
	}
}

// cutTo keeps the first frac of text's words, as a feed that truncates.
func cutTo(text string, frac float64) string {
	w := strings.Fields(text)
	return strings.Join(w[:int(float64(len(w))*frac)], " ")
}

const rateHikeBody = `The Bank of England raised its benchmark interest rate by a quarter point to 5% on Thursday, the highest level in six years, as policymakers moved to curb inflation that has run above target for months. Governor Mervyn King said the monetary policy committee voted seven to two for the rise, with two members preferring to wait for more evidence that consumer spending was slowing. Mortgage lenders including Nationwide and Halifax said they would pass the increase on to borrowers from next month, adding roughly twenty pounds to the monthly cost of a typical tracker mortgage. Economists had been split on the timing, with a narrow majority expecting the move to come in August after the next inflation report. Sterling climbed against the dollar and the euro after the announcement, while shares in housebuilders fell sharply on worries about demand.`

const fedHoldBody = `The Federal Reserve left US interest rates unchanged at 3.5% on Wednesday, pausing a long run of increases as signs grew that the American economy is cooling. Chairman Alan Greenspan said in a statement that the central bank would watch data on jobs and retail sales closely before deciding its next step. Wall Street rallied on the decision, with the Dow Jones index closing up more than one hundred points. Treasury bond yields dipped as traders scaled back bets on further tightening this year. Some analysts warned that energy prices could still push consumer prices higher in the months ahead.`

const cupFinalBody = `Arsenal beat Manchester United on penalties to win the FA Cup final at the Millennium Stadium in Cardiff on Saturday after a goalless two hours of football. Patrick Vieira scored the decisive spot kick in his last match for the club before a summer move abroad. Jens Lehmann saved from Paul Scholes to give the Gunners the advantage in the shootout. United had dominated possession and hit the woodwork twice through Ruud van Nistelrooy and Wayne Rooney. Arsene Wenger praised the resilience of his defence, which had been criticised heavily during a difficult league campaign.`

// topicCorpus makes n articles per topic from distinct vocabularies with
// shared filler, deterministic for a seed.
func topicCorpus(perTopic int, seed uint64) ([]digest.Article, map[string]string) {
	vocab := map[string][]string{
		"football": {"goal", "striker", "league", "match", "penalty", "referee", "midfielder", "stadium", "defender", "keeper", "cup", "season"},
		"markets":  {"shares", "investors", "profit", "dividend", "stock", "earnings", "bond", "inflation", "bank", "currency", "trading", "merger"},
		"space":    {"rocket", "orbit", "astronaut", "launch", "satellite", "mars", "telescope", "moon", "spacecraft", "nasa", "probe", "asteroid"},
	}
	filler := []string{"report", "today", "official", "statement", "public", "plan", "announce", "group", "local", "major"}
	rng := rand.New(rand.NewPCG(seed, 99))
	var out []digest.Article
	label := map[string]string{}
	topics := []string{"football", "markets", "space"}
	for _, topic := range topics {
		words := vocab[topic]
		for i := range perTopic {
			pick := func(n int, from []string) []string {
				var w []string
				for range n {
					w = append(w, from[rng.IntN(len(from))])
				}
				return w
			}
			title := strings.Join(pick(4, words), " ")
			body := strings.Join(append(pick(30, words), pick(15, filler)...), " ")
			url := fmt.Sprintf("https://example.org/%s/%d", topic, i)
			a := art(fmt.Sprintf("Outlet %d", i%5), url, title, body, time.Duration(i)*time.Hour)
			out = append(out, a)
			label[url] = topic
		}
	}
	return out, label
}
