//! The overview's trend chart: vulnerabilities found per day, as inline SVG drawn on the
//! server (no chart library, no script), one bar per day with a tooltip.

use crowsnest_store::TrendDay;

use crate::html::Html;

const WIDTH: i64 = 720;
const HEIGHT: i64 = 180;
const LEFT: i64 = 48;
const BOTTOM: i64 = 24;
const TOP: i64 = 8;

/// Draws `days` (days since the epoch with their counts, any order, gaps allowed) as bars for
/// every day from `first_day` to `last_day`.
pub fn trend(h: &mut Html, days: &[TrendDay], first_day: i64, last_day: i64) {
    let span = (last_day - first_day + 1).max(1);
    let value = |day: i64| {
        days.iter()
            .find(|d| d.day == day)
            .map_or((0, 0), |d| (d.vulnerabilities, d.scans))
    };
    let max = (first_day..=last_day)
        .map(|d| value(d).0)
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - 8;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let bar_w = (plot_w / span).max(1);
    let view = format!("0 0 {WIDTH} {HEIGHT}");
    h.el(
        "svg",
        &[
            ("class", "trend"),
            ("viewBox", &view),
            ("role", "img"),
            ("aria-label", "Vulnerabilities found per day"),
            ("xmlns", "http://www.w3.org/2000/svg"),
        ],
        |h| {
            // Axis and the maximum's label.
            let axis_y = (TOP + plot_h).to_string();
            h.el(
                "line",
                &[
                    ("x1", &LEFT.to_string()),
                    ("y1", &axis_y),
                    ("x2", &(WIDTH - 8).to_string()),
                    ("y2", &axis_y),
                    ("class", "axis"),
                ],
                |_| {},
            );
            h.leaf(
                "text",
                &[
                    ("x", &(LEFT - 6).to_string()),
                    ("y", &(TOP + 10).to_string()),
                    ("class", "label end"),
                ],
                &max.to_string(),
            );
            h.leaf(
                "text",
                &[
                    ("x", &(LEFT - 6).to_string()),
                    ("y", &axis_y),
                    ("class", "label end"),
                ],
                "0",
            );
            for (i, day) in (first_day..=last_day).enumerate() {
                let (vulns, scans) = value(day);
                let bar_h = vulns * plot_h / max;
                let x = LEFT + i64::try_from(i).unwrap_or(0) * bar_w;
                h.el(
                    "rect",
                    &[
                        ("x", &x.to_string()),
                        ("y", &(TOP + plot_h - bar_h).to_string()),
                        ("width", &(bar_w - 1).max(1).to_string()),
                        ("height", &bar_h.to_string()),
                        ("class", "bar"),
                    ],
                    |h| {
                        h.el("title", &[], |h| {
                            h.text(&crate::layout::date(day * 86_400_000))
                                .text(": ")
                                .num(vulns)
                                .text(" vulnerabilities in ")
                                .num(scans)
                                .text(" scanned images");
                        });
                    },
                );
            }
            // The first and last dates under the axis.
            for (day, x, anchor) in [
                (first_day, LEFT, "label"),
                (last_day, WIDTH - 8, "label end"),
            ] {
                h.leaf(
                    "text",
                    &[
                        ("x", &x.to_string()),
                        ("y", &(HEIGHT - 6).to_string()),
                        ("class", anchor),
                    ],
                    &crate::layout::date(day * 86_400_000),
                );
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_day_scaled_to_the_largest() {
        let mut h = Html::new();
        let days = [
            TrendDay {
                day: 100,
                vulnerabilities: 10,
                scans: 2,
            },
            TrendDay {
                day: 102,
                vulnerabilities: 5,
                scans: 1,
            },
        ];
        trend(&mut h, &days, 100, 103);
        let svg = h.finish();
        assert_eq!(svg.matches("<rect").count(), 4);
        // The largest day fills the plot; half of it fills half.
        assert!(svg.contains("height=\"148\""), "{svg}");
        assert!(svg.contains("height=\"74\""), "{svg}");
        assert!(svg.contains("10 vulnerabilities in 2 scanned images"));
    }
}
