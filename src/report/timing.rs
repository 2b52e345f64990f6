//! How reports show a timing measurement: a box plot per endpoint as inline SVG (written by
//! hand, no dependencies), and the one-line summary of the terminal and Markdown outputs.

use super::escape;
use crate::timing::report::format_us;
use crate::timing::{ClassSummary, TimingReport, TimingVerdict};

/// Width of the plot, in SVG units (pixels at 100 %).
const WIDTH: f64 = 720.0;
/// The column of class names.
const LEFT: f64 = 190.0;
/// Room right of the plot area for the median of the slowest class.
const RIGHT: f64 = 64.0;
/// Space above the first row.
const TOP: f64 = 8.0;
/// Height of one class.
const ROW: f64 = 26.0;
/// Height of the axis with its labels and title.
const AXIS: f64 = 42.0;
/// Class names longer than this are cut in the plot (tables show them whole).
const NAME_CHARS: usize = 30;

/// Ticks at 1, 2 or 5 times a power of ten covering `lo..hi` with about `want` steps:
/// the first and last tick enclose the range.
fn ticks(lo: f64, hi: f64, want: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / want.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).floor() * step;
    let mut out = Vec::new();
    let mut t = first;
    while t < hi + step * 0.999 {
        out.push(t);
        t += step;
        if out.len() > 40 {
            break;
        }
    }
    if out.len() < 2 {
        out.push(first + step);
    }
    out
}

/// A number for the plot: no more digits than the scale needs.
fn label(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The classes that stand out: those in the most warned pairs (the one cause that is faster
/// than all others, typically; both classes when only one pair warned).
fn standing_out(t: &TimingReport) -> Vec<&str> {
    let mut count: Vec<(&str, usize)> = t.classes.iter().map(|c| (c.name.as_str(), 0)).collect();
    for p in t.pairs.iter().filter(|p| p.verdict == TimingVerdict::Warn) {
        for (name, n) in count.iter_mut() {
            if *name == p.a || *name == p.b {
                *n += 1;
            }
        }
    }
    let most = count.iter().map(|(_, n)| *n).max().unwrap_or(0);
    count
        .into_iter()
        .filter(|(_, n)| most > 0 && *n == most)
        .map(|(name, _)| name)
        .collect()
}

/// A box plot of the classes of `t` (whiskers p10 to p90, box p25 to p75, a bar at the
/// median, the median written at the right), on an axis in µs; the classes that stand out in
/// the warned pairs in the warning colour. Empty when no class has samples. Every text is escaped.
pub fn svg(t: &TimingReport) -> String {
    let shown: Vec<&ClassSummary> = t.classes.iter().filter(|c| c.n > 0).collect();
    if shown.is_empty() {
        return String::new();
    }
    let lo = shown.iter().map(|c| c.p10_us).fold(f64::INFINITY, f64::min);
    let hi = shown
        .iter()
        .map(|c| c.p90_us)
        .fold(f64::NEG_INFINITY, f64::max);
    let ticks = ticks(lo, hi, 6);
    let (d0, d1) = (ticks[0], ticks[ticks.len() - 1]);
    let x = |v: f64| LEFT + (v - d0) / (d1 - d0) * (WIDTH - LEFT - RIGHT);
    let height = TOP + ROW * shown.len() as f64 + AXIS;
    let axis_y = TOP + ROW * shown.len() as f64 + 2.0;
    let warned = standing_out(t);
    let what = format!(
        "Response times of the failures of {}, per cause, in microseconds",
        t.endpoint
    );
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timing-plot\" viewBox=\"0 0 {WIDTH} \
         {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{}\" \
         font-family=\"system-ui, sans-serif\" font-size=\"11\">\n<title>{}</title>\n",
        escape::html(&what),
        escape::html(&what)
    );
    for &tick in &ticks {
        let tx = x(tick);
        o.push_str(&format!(
            "<line x1=\"{tx:.1}\" y1=\"{TOP}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"#e3e7ee\"/>\n\
             <text x=\"{tx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5d6778\">{}</text>\n",
            axis_y + 4.0,
            axis_y + 16.0,
            label(tick)
        ));
    }
    o.push_str(&format!(
        "<line x1=\"{LEFT}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#5d6778\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#5d6778\">µs from request to \
         response · whiskers p10–p90 · box p25–p75 · bar median</text>\n",
        WIDTH - RIGHT,
        LEFT + (WIDTH - LEFT - RIGHT) / 2.0,
        axis_y + 34.0
    ));
    for (i, c) in shown.iter().enumerate() {
        let y = TOP + ROW * i as f64 + ROW / 2.0;
        let (fill, stroke) = if warned.contains(&c.name.as_str()) {
            ("#fff1c2", "#9a6700")
        } else {
            ("#dbe6f6", "#3b5b9a")
        };
        let name: String = if c.name.chars().count() > NAME_CHARS {
            c.name.chars().take(NAME_CHARS - 1).collect::<String>() + "…"
        } else {
            c.name.clone()
        };
        o.push_str(&format!(
            "<g><title>{}: n {}, median {}, p25–p75 {}–{}, p10–p90 {}–{}, min {}, max {}</title>\n",
            escape::html(&c.name),
            c.n,
            format_us(c.median_us),
            format_us(c.p25_us),
            format_us(c.p75_us),
            format_us(c.p10_us),
            format_us(c.p90_us),
            format_us(c.min_us),
            format_us(c.max_us)
        ));
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>\n",
            LEFT - 8.0,
            y + 4.0,
            escape::html(&name)
        ));
        let (w0, w1) = (x(c.p10_us), x(c.p90_us));
        o.push_str(&format!(
            "<path d=\"M{w0:.1} {:.1}V{:.1}M{w0:.1} {y:.1}H{w1:.1}M{w1:.1} {:.1}V{:.1}\" \
             stroke=\"{stroke}\" fill=\"none\"/>\n",
            y - 5.0,
            y + 5.0,
            y - 5.0,
            y + 5.0
        ));
        let (b0, b1) = (x(c.p25_us), x(c.p75_us));
        o.push_str(&format!(
            "<rect x=\"{b0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\" fill=\"{fill}\" \
             stroke=\"{stroke}\"/>\n",
            y - 8.0,
            (b1 - b0).max(1.0)
        ));
        let m = x(c.median_us);
        o.push_str(&format!(
            "<line x1=\"{m:.1}\" y1=\"{:.1}\" x2=\"{m:.1}\" y2=\"{:.1}\" stroke=\"#1d2330\" \
             stroke-width=\"2.5\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1d2330\">{}</text>\n</g>\n",
            y - 9.0,
            y + 9.0,
            w1 + 6.0,
            y + 4.0,
            label(c.median_us)
        ));
    }
    o.push_str("</svg>");
    o
}

/// One line for the terminal and Markdown: `endpoint: summary`.
pub fn line(t: &TimingReport) -> String {
    format!("{}: {}", t.endpoint, t.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::{PairSummary, TimingConfig};

    fn class(name: &str, median: f64) -> ClassSummary {
        ClassSummary {
            name: name.into(),
            n: 500,
            outcomes: [("401".to_string(), 500)].into(),
            unexpected: Default::default(),
            min_us: median - 60.0,
            p10_us: median - 30.0,
            p25_us: median - 12.0,
            median_us: median,
            p75_us: median + 14.0,
            p90_us: median + 40.0,
            max_us: median + 4000.0,
        }
    }

    fn report() -> TimingReport {
        TimingReport {
            endpoint: "secure <PUT>".into(),
            verdict: TimingVerdict::Warn,
            summary: "…".into(),
            settings: TimingConfig::default(),
            level: 0.998,
            requests: 2200,
            rounds: 500,
            error_rounds: 0,
            wall_ms: 900,
            stopped: None,
            classes: vec![
                class("unknown <URI> & co", 205.0),
                class("wrong signature", 255.0),
            ],
            pairs: vec![PairSummary {
                a: "unknown <URI> & co".into(),
                b: "wrong signature".into(),
                diff_us: 50.0,
                ci_low_us: 44.0,
                ci_high_us: 56.0,
                threshold_us: 10.25,
                verdict: TimingVerdict::Warn,
            }],
            first_measurement: None,
            extensions: 0,
        }
    }

    #[test]
    fn ticks_enclose_the_range_in_round_steps() {
        assert_eq!(
            ticks(175.0, 295.0, 6),
            vec![160.0, 180.0, 200.0, 220.0, 240.0, 260.0, 280.0, 300.0]
        );
        let t = ticks(250.0, 250.0, 6);
        assert!(
            t.len() >= 2 && t[0] <= 250.0 && *t.last().unwrap() >= 250.0,
            "{t:?}"
        );
    }

    #[test]
    fn the_plot_escapes_names_and_marks_warned_classes() {
        let s = svg(&report());
        assert!(s.starts_with("<svg ") && s.ends_with("</svg>"));
        assert!(s.contains("unknown &lt;URI&gt; &amp; co"));
        assert!(!s.contains("<URI>"));
        assert!(s.contains("secure &lt;PUT&gt;"));
        assert_eq!(s.matches("fill=\"#fff1c2\"").count(), 2);
        // Of three classes, the one in every warned pair stands out.
        let mut r = report();
        r.classes.push(class("unsigned", 256.0));
        let mut p = r.pairs[0].clone();
        p.b = "unsigned".into();
        r.pairs.push(p);
        assert_eq!(standing_out(&r), ["unknown <URI> & co"]);
        assert!(s.contains(">205</text>") && s.contains(">255</text>"));
        assert!(s.len() < 6000, "{} bytes", s.len());
    }

    #[test]
    fn no_samples_no_plot() {
        let mut r = report();
        for c in &mut r.classes {
            c.n = 0;
        }
        assert_eq!(svg(&r), "");
    }
}
