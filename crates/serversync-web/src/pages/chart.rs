//! Server-rendered SVG charts (the content security policy allows no script): a drift trend
//! per server on the servers page and accounts and drift over time on a server's page.
//!
//! Pure functions from numbers to an SVG string. Every text that goes into the SVG is
//! XML-escaped here, because the templates insert the result unescaped (`|safe`). The pages
//! show the same numbers in a table beside each chart, for screen readers and for reading
//! exact values.

use serversync_core::analysis::Category;

/// One run of a server, oldest first in a series.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPoint {
    pub run_id: i64,
    /// `2024-01-31` (the day the run started, UTC).
    pub day: String,
    /// `None` when the listing failed (no account list, no analysis).
    pub accounts: Option<u64>,
    /// Drift per category (non-zero counts only), in display order.
    pub drift: Vec<(Category, u64)>,
}

impl RunPoint {
    /// All drift of the run, every category summed.
    pub fn drift_total(&self) -> u64 {
        self.drift.iter().map(|(_, n)| n).sum()
    }
}

/// The fill colour of a category's bar segment (distinct hues; `in_sync` never drifts).
pub fn color(c: Category) -> &'static str {
    match c {
        Category::InSync => "#067647",
        Category::OutOfSync => "#d97706",
        Category::Duplicate => "#7c3aed",
        Category::TerminatedInBilling => "#b42318",
        Category::Moved => "#0e7490",
        Category::NotInBilling => "#1f5fbf",
        Category::Conflict => "#be185d",
        Category::NotOnServer => "#475467",
        Category::PendingNotOnServer => "#98a2b3",
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Width and height of the drift trend, in CSS pixels.
const SPARK_W: u32 = 120;
const SPARK_H: u32 = 28;

/// A small stacked bar chart of drift per category over `points` (oldest first), one bar per
/// run, scaled to the largest total; a failed run is a short grey tick. `title` names the
/// chart for assistive technology (`<title>`). Empty `points` give an empty string.
pub fn drift_trend(points: &[RunPoint], title: &str) -> String {
    if points.is_empty() {
        return String::new();
    }
    let max = points
        .iter()
        .map(RunPoint::drift_total)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = points.len() as u32;
    let slot = SPARK_W / n.max(1);
    let bar = slot.saturating_sub(2).max(2);
    let mut s = format!(
        "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{SPARK_W}\" height=\"{SPARK_H}\" viewBox=\"0 0 {SPARK_W} {SPARK_H}\" role=\"img\"><title>{}</title>",
        escape(title)
    );
    s.push_str(&format!(
        "<line x1=\"0\" y1=\"{y}\" x2=\"{SPARK_W}\" y2=\"{y}\" stroke=\"#d9dee7\"/>",
        y = SPARK_H - 1
    ));
    for (i, p) in points.iter().enumerate() {
        let x = i as u32 * slot;
        if p.accounts.is_none() {
            s.push_str(&format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"3\" fill=\"#b42318\" data-run=\"{}\"/>",
                SPARK_H - 3,
                p.run_id
            ));
            continue;
        }
        // Segments stacked from the bottom, each at least 1 px so that a small count shows.
        let mut y = SPARK_H - 1;
        for (c, count) in &p.drift {
            let h = ((*count * u64::from(SPARK_H - 2)) / max).max(1) as u32;
            let h = h.min(y);
            y -= h;
            s.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{h}\" fill=\"{}\" data-run=\"{}\" data-category=\"{}\"/>",
                color(*c),
                p.run_id,
                c.as_str()
            ));
        }
    }
    s.push_str("</svg>");
    s
}

/// Size of the chart on a server's page, and its margins for the axis labels.
const W: u32 = 560;
const H: u32 = 200;
const LEFT: u32 = 44;
const BOTTOM: u32 = 26;
const TOP: u32 = 10;
const RIGHT: u32 = 10;

/// A line chart of accounts on the server (blue) and total drift (orange) per run over
/// `points` (oldest first), with a y axis from 0 to the largest value and the first and last
/// run's day under the x axis. Failed runs leave a gap in the accounts line. Empty `points`
/// give an empty string.
pub fn accounts_and_drift(points: &[RunPoint], title: &str) -> String {
    if points.is_empty() {
        return String::new();
    }
    let max = points
        .iter()
        .map(|p| p.accounts.unwrap_or(0).max(p.drift_total()))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x_of = |i: usize| {
        if points.len() == 1 {
            LEFT + plot_w / 2
        } else {
            LEFT + (i as u32 * plot_w) / (points.len() as u32 - 1)
        }
    };
    let y_of = |v: u64| TOP + plot_h - ((v * u64::from(plot_h)) / max) as u32;
    let mut s = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\"><title>{}</title>",
        escape(title)
    );
    // Axes and the scale: 0 and the maximum.
    s.push_str(&format!(
        "<g stroke=\"#98a2b3\"><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{b}\"/><line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"/></g>",
        b = TOP + plot_h,
        r = W - RIGHT
    ));
    s.push_str(&format!(
        "<g font-size=\"11\" fill=\"#667085\" font-family=\"sans-serif\"><text x=\"{x}\" y=\"{y0}\" text-anchor=\"end\">0</text><text x=\"{x}\" y=\"{y1}\" text-anchor=\"end\">{max}</text>",
        x = LEFT - 4,
        y0 = TOP + plot_h + 4,
        y1 = TOP + 8
    ));
    let first = &points[0];
    let last = &points[points.len() - 1];
    s.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{y}\">{}</text>",
        escape(&first.day),
        y = H - 8
    ));
    if points.len() > 1 {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            escape(&last.day),
            y = H - 8
        ));
    }
    s.push_str("</g>");
    // Accounts: one polyline per stretch of successful runs.
    let mut stretch: Vec<String> = Vec::new();
    let mut lines: Vec<Vec<String>> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        match p.accounts {
            Some(a) => stretch.push(format!("{},{}", x_of(i), y_of(a))),
            None => {
                if !stretch.is_empty() {
                    lines.push(std::mem::take(&mut stretch));
                }
            }
        }
    }
    if !stretch.is_empty() {
        lines.push(stretch);
    }
    for l in &lines {
        s.push_str(&format!(
            "<polyline class=\"accounts\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{}\"/>",
            l.join(" ")
        ));
    }
    let drift: Vec<String> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.accounts.is_some())
        .map(|(i, p)| format!("{},{}", x_of(i), y_of(p.drift_total())))
        .collect();
    if !drift.is_empty() {
        s.push_str(&format!(
            "<polyline class=\"drift\" fill=\"none\" stroke=\"#d97706\" stroke-width=\"2\" stroke-dasharray=\"5 3\" points=\"{}\"/>",
            drift.join(" ")
        ));
    }
    // A dot per run, so that a single run still shows.
    for (i, p) in points.iter().enumerate() {
        if let Some(a) = p.accounts {
            s.push_str(&format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"3\" fill=\"#1f5fbf\" data-run=\"{}\"/>",
                x_of(i),
                y_of(a),
                p.run_id
            ));
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(run_id: i64, accounts: Option<u64>, drift: &[(Category, u64)]) -> RunPoint {
        RunPoint {
            run_id,
            day: format!("2024-01-{:02}", run_id),
            accounts,
            drift: drift.to_vec(),
        }
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn drift_trend_stacks_segments_scaled_to_the_largest_run() {
        let pts = [
            point(
                1,
                Some(10),
                &[(Category::OutOfSync, 2), (Category::NotInBilling, 2)],
            ),
            point(2, None, &[]),
            point(3, Some(10), &[(Category::OutOfSync, 1)]),
        ];
        let svg = drift_trend(&pts, "web1 <drift>");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(svg.contains("<title>web1 &lt;drift&gt;</title>"), "{svg}");
        // Largest total 4 → 26 px; 2 of 4 → 13 px each, stacked from y = 27 upwards.
        assert!(
            svg.contains("y=\"14\" width=\"38\" height=\"13\" fill=\"#d97706\" data-run=\"1\" data-category=\"out_of_sync\""),
            "{svg}"
        );
        assert!(
            svg.contains("x=\"0\" y=\"1\" width=\"38\" height=\"13\" fill=\"#1f5fbf\" data-run=\"1\" data-category=\"not_in_billing\""),
            "{svg}"
        );
        // The failed run is a red tick, the third bar 1 of 4 → 6 px at x = 80.
        assert!(
            svg.contains(
                "x=\"40\" y=\"25\" width=\"38\" height=\"3\" fill=\"#b42318\" data-run=\"2\""
            ),
            "{svg}"
        );
        assert!(
            svg.contains("x=\"80\" y=\"21\" width=\"38\" height=\"6\""),
            "{svg}"
        );
        assert_eq!(drift_trend(&[], "x"), "");
    }

    #[test]
    fn accounts_chart_scales_to_the_maximum_and_breaks_at_failed_runs() {
        let pts = [
            point(1, Some(100), &[(Category::OutOfSync, 20)]),
            point(2, Some(50), &[]),
            point(3, None, &[]),
            point(4, Some(0), &[(Category::NotOnServer, 100)]),
        ];
        let svg = accounts_and_drift(&pts, "accounts & drift");
        assert!(svg.contains("<title>accounts &amp; drift</title>"), "{svg}");
        // Plot 506 × 164 from (44, 10): x = 44, 212, 380, 550; 100 → y 10, 50 → 92, 0 → 174.
        assert!(
            svg.contains("class=\"accounts\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"44,10 212,92\""),
            "{svg}"
        );
        assert!(svg.contains("points=\"550,174\""), "{svg}");
        // Drift: 20 → y 142, 0 → 174, 100 → 10; the failed run has no point.
        assert!(svg.contains("class=\"drift\""), "{svg}");
        assert!(svg.contains("points=\"44,142 212,174 550,10\""), "{svg}");
        assert!(
            svg.contains(">100</text>")
                && svg.contains(">2024-01-01<")
                && svg.contains(">2024-01-04<")
        );
        assert_eq!(accounts_and_drift(&[], "x"), "");
    }
}
