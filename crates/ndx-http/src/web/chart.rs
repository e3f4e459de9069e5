//! Charts drawn on the server as SVG: horizontal bars (one per agency) and columns (one per
//! day). Only presentation attributes, no style and no script, so the page's security policy
//! holds; every text is escaped; each chart has a title and a description for screen readers
//! and is followed on its page by a table of the same figures and a CSV of them.

use std::fmt::Write;

/// One bar: its label, its value (on the chart's scale) and the value as shown.
pub struct Bar {
    /// What it is.
    pub label: String,
    /// Its length.
    pub value: f64,
    /// Its value as text.
    pub shown: String,
}

const INK: &str = "#1b1b1f";
const BAR: &str = "#9b1c1c";
const GRID: &str = "#d0d4da";

/// Escapes text for SVG.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
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

/// At most `n` characters, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n - 1).collect();
        out.push('…');
        out
    }
}

/// A chart with a bar per item, its length relative to `max` (the largest value when `max`
/// is not positive).
pub fn horizontal_bars(id: &str, title: &str, description: &str, bars: &[Bar], max: f64) -> String {
    const WIDTH: f64 = 720.0;
    const LABEL: f64 = 250.0;
    const VALUE: f64 = 110.0;
    const ROW: f64 = 30.0;
    let max = if max > 0.0 {
        max
    } else {
        bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1.0)
    };
    let height = ROW * bars.len().max(1) as f64 + 10.0;
    let span = WIDTH - LABEL - VALUE;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(description)
    );
    let _ = write!(
        svg,
        r#"<line x1="{LABEL}" y1="0" x2="{LABEL}" y2="{height}" stroke="{GRID}"/>"#
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i as f64 * ROW + 5.0;
        let length = (b.value.max(0.0) / max).min(1.0) * span;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" font-size="14" fill="{INK}">{}</text><rect x="{LABEL}" y="{}" width="{length:.1}" height="{}" fill="{BAR}"/><text x="{}" y="{}" font-size="14" fill="{INK}">{}</text>"#,
            LABEL - 8.0,
            y + ROW * 0.6,
            escape(&clip(&b.label, 32)),
            y + 4.0,
            ROW - 10.0,
            LABEL + length + 6.0,
            y + ROW * 0.6,
            escape(&b.shown)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A chart with a column per item (days, oldest first); every `label_every`-th label shown.
pub fn columns(
    id: &str,
    title: &str,
    description: &str,
    bars: &[Bar],
    label_every: usize,
) -> String {
    const WIDTH: f64 = 720.0;
    const HEIGHT: f64 = 240.0;
    const AXIS: f64 = 30.0;
    const TOP: f64 = 24.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(1.0);
    let slot = WIDTH / bars.len().max(1) as f64;
    let plot = HEIGHT - AXIS - TOP;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(description)
    );
    let base = HEIGHT - AXIS;
    let _ = write!(
        svg,
        r#"<line x1="0" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="{GRID}"/><text x="4" y="16" font-size="13" fill="{INK}">{}</text>"#,
        escape(&format!(
            "max {}",
            bars.iter()
                .max_by(|a, b| a.value.total_cmp(&b.value))
                .map_or("0", |b| b.shown.as_str())
        ))
    );
    for (i, b) in bars.iter().enumerate() {
        let h = (b.value.max(0.0) / max) * plot;
        let x = i as f64 * slot;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{BAR}"><title>{}: {}</title></rect>"#,
            x + slot * 0.15,
            base - h,
            slot * 0.7,
            escape(&b.label),
            escape(&b.shown)
        );
        if label_every > 0 && i % label_every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" font-size="12" fill="{INK}">{}</text>"#,
                x + 2.0,
                HEIGHT - 10.0,
                escape(&b.label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_escapes_its_texts_and_scales_its_bars() {
        let bars = vec![
            Bar {
                label: "<script>alert(1)</script>".into(),
                value: 50.0,
                shown: "50".into(),
            },
            Bar {
                label: "Bộ Công an".into(),
                value: 100.0,
                shown: "100".into(),
            },
        ];
        let svg = horizontal_bars("c", "A & B", "desc", &bars, 0.0);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("A &amp; B"));
        assert!(svg.contains("Bộ Công an"));
        // The largest bar spans the plot; the other half of it.
        assert!(svg.contains(r#"width="360.0""#), "{svg}");
        assert!(svg.contains(r#"width="180.0""#), "{svg}");
        assert!(!svg.contains("style="));
        let cols = columns("d", "t", "d", &bars, 1);
        assert_eq!(cols.matches("<rect").count(), 2);
    }
}
