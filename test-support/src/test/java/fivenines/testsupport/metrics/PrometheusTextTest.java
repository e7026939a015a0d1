package fivenines.testsupport.metrics;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrometheusTextTest {
    private static final String GOOD = """
        # HELP a_total Things done.
        # TYPE a_total counter
        a_total{volume="vg/lv",op="re\\"ad"} 3
        a_total{volume="vg/other"} 1.5e3
        # TYPE g gauge
        g -Inf
        # HELP h_seconds Latency.
        # TYPE h_seconds histogram
        h_seconds_bucket{op="read",le="0.1"} 1
        h_seconds_bucket{op="read",le="1.0"} 2
        h_seconds_bucket{op="read",le="+Inf"} 3
        h_seconds_count{op="read"} 3
        h_seconds_sum{op="read"} 2.5
        """;

    @Test
    void aWellFormedTextIsReadWithItsTypesLabelsAndValues() {
        var text = PrometheusText.parse(GOOD);
        assertEquals("counter", text.family("a_total").type());
        assertEquals("Things done.", text.family("a_total").help());
        assertEquals(3, text.value("a_total", "op", "re\"ad"));
        assertEquals(1500, text.value("a_total", "volume", "vg/other"));
        assertEquals(Double.NEGATIVE_INFINITY, text.value("g"));
        assertEquals(3, text.value("h_seconds_count", "op", "read"));
        assertEquals(3, text.family("h_seconds").samples().size() - 2);
    }

    private static void refused(String text, String why) {
        var e = assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(text));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void everyBrokenRuleIsRefusedNamingIt() {
        refused("# TYPE a counter\na 1\n", "does not end in _total");
        refused("a_total 1\n", "before (or without) its TYPE");
        refused("# TYPE g gauge\ng 1\n# TYPE g gauge\n", "after its samples");
        refused("# TYPE g gauge\n# TYPE g gauge\n", "a second TYPE");
        refused("# TYPE g gauge\ng 1", "newline");
        refused("# TYPE g gauge\ng{a=\"1\",a=\"2\"} 1\n", "label a twice");
        refused("# TYPE g gauge\ng{a=1} 1\n", "not quoted");
        refused("# TYPE g gauge\ng{a=\"\\x\"} 1\n", "not an escape");
        refused("# TYPE g gauge\ng{__a=\"x\"} 1\n", "not a label name");
        refused("# TYPE g gauge\ng{a=\"x\" b=\"y\"} 1\n", "separated by ','");
        refused("# TYPE g gauge\ng one\n", "not a float");
        refused("# TYPE g gauge\ng 1\ng 2\n", "second sample of the series");
        refused("# TYPE g gauge\n# TYPE f gauge\ng 1\nf 1\ng{a=\"b\"} 2\n", "not together");
        refused("# TYPE a_total counter\na_total -1\n", "not negative");
        refused("# TYPE g gauge\n9g 1\n", "not a metric name");
        refused("# TYPE g wobbly\n", "not a metric type");
        String histogram = "# TYPE h histogram\n";
        refused(histogram + "h_bucket 1\nh_count 1\nh_sum 1\n", "without an le");
        refused(histogram + "h_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n", "not le=\"+Inf\"");
        refused(histogram + "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n", "cumulative");
        refused(histogram + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
            "increasing le");
        refused(histogram + "h_bucket{le=\"+Inf\"} 2\nh_count 1\nh_sum 1\n", "differs from _count");
        refused(histogram + "h_bucket{le=\"+Inf\"} 1\nh_count 1\n", "with _sum");
    }
}
