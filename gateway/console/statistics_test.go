package console

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

// TestStatisticsPairFigures renders one pair as the page shows it, in
// Russian: the mean times beside the medians, the emergency and other
// counts, the data categories as the service gives them, most sought
// first, and the execution items by outcome in the enum's order, one the
// console does not know under its own name.
func TestStatisticsPairFigures(t *testing.T) {
	pg := page{T: mustCatalog(t).localizer("ru"), Lang: "ru"}
	sp := statPairOf(pg, &requestv1.PairStatistics{
		RequestingState: "KZ", RequestedState: "UZ",
		ByStatus:                map[string]int32{"EXECUTED": 2, "PARTIALLY_EXECUTED": 1},
		MedianTimeToAcknowledge: durationpb.New(90 * time.Minute), MeanTimeToAcknowledge: durationpb.New(2 * time.Hour),
		AcknowledgedCount: 3, EmergencyCount: 1, NonEmergencyCount: 2,
		ByDataCategory:          map[string]int32{"ip logs": 1, "subscriber name": 3, "content": 1},
		ExecutionItemsByOutcome: map[string]int32{"NOT_HELD": 1, "PROVIDED": 4, "FROM_A_NEWER_SERVICE": 2},
	})
	if sp.MeanAck != "2.0 ч" || sp.MedianAck != "1.5 ч" {
		t.Errorf("mean to acknowledge %q, median %q; want 2.0 ч and 1.5 ч", sp.MeanAck, sp.MedianAck)
	}
	if sp.MeanAnswer != pg.T("statistics.no_median") || sp.Emergency != 1 || sp.NotEmergency != 2 {
		t.Errorf("mean to answer %q, emergency %d, other %d; want none yet, 1, 2", sp.MeanAnswer, sp.Emergency, sp.NotEmergency)
	}
	var got []string
	for _, b := range sp.Categories.Bars {
		got = append(got, b.Label+"="+strconv.Itoa(b.Value))
	}
	if want := "subscriber name=3 content=1 ip logs=1"; strings.Join(got, " ") != want {
		t.Errorf("data categories %q; want %q", strings.Join(got, " "), want)
	}
	got = nil
	for _, b := range sp.Outcomes.Bars {
		got = append(got, b.Label+"="+strconv.Itoa(b.Value))
	}
	if want := "Предоставлено=4 Данных нет=1 FROM_A_NEWER_SERVICE=2"; strings.Join(got, " ") != want {
		t.Errorf("outcomes %q; want %q", strings.Join(got, " "), want)
	}
	var out bytes.Buffer
	if err := StatisticsPage(pg, statisticsView{Period: "…", Pairs: []statPair{sp}}).Render(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<dd data-figure="mean-ack">` + sp.MeanAck + `</dd>`, `<dd data-figure="emergency">1</dd>`, `<dd data-figure="not-emergency">2</dd>`,
		`<title id="chart-categories-KZ-UZ-title">Запросы по категориям данных, `,
		`<title id="chart-outcomes-KZ-UZ-title">Позиции исполнения по результатам, `,
		`<tr><th scope="row">Предоставлено</th><td>4</td></tr>`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}
