//! Dataset analysis (the study's "Data Analysis" slides): summary statistics, the pixel-intensity
//! histogram, samples per class, class balance and the mean image of each class, as Plotly figures.
//! The web page and the native `analyze` report both draw these same figures.

use serde::Serialize;
use serde_json::json;

use crate::data::{CLASS_NAMES, Dataset, NUM_CLASSES, PIXELS, SIDE};
use crate::report::plot::{Figure, tile_grid};

/// Summary statistics of a dataset's pixels and labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    /// Shape `[images, 28, 28]`.
    pub shape: [usize; 3],
    /// Mean pixel value (0..=255 scale).
    pub mean: f64,
    /// Median pixel value.
    pub median: u8,
    /// Population standard deviation of the pixels.
    pub std: f64,
    /// Smallest pixel value.
    pub min: u8,
    /// Largest pixel value.
    pub max: u8,
    /// Fraction of pixels that are exactly 0.
    pub zero_fraction: f64,
    /// Images per class.
    pub class_counts: [usize; NUM_CLASSES],
    /// Pixel-value histogram: `histogram[v]` pixels have value `v`.
    pub histogram: Vec<u64>,
    /// Mean image of each class, 784 values on the 0..=255 scale (empty for an absent class).
    pub class_means: Vec<Vec<f32>>,
}

impl DatasetStats {
    /// Computes every statistic in one pass over the pixels.
    pub fn compute(ds: &Dataset) -> Self {
        let mut histogram = vec![0u64; 256];
        let mut sums = vec![vec![0u64; PIXELS]; NUM_CLASSES];
        for i in 0..ds.len() {
            let sum = &mut sums[ds.label(i) as usize];
            for (s, &p) in sum.iter_mut().zip(ds.image(i)) {
                *s += p as u64;
                histogram[p as usize] += 1;
            }
        }
        let total: u64 = histogram.iter().sum();
        let n = total.max(1) as f64;
        let mean = histogram
            .iter()
            .enumerate()
            .map(|(v, &c)| v as f64 * c as f64)
            .sum::<f64>()
            / n;
        let var = histogram
            .iter()
            .enumerate()
            .map(|(v, &c)| (v as f64 - mean).powi(2) * c as f64)
            .sum::<f64>()
            / n;
        let mut seen = 0u64;
        let median = histogram
            .iter()
            .position(|&c| {
                seen += c;
                seen * 2 > total
            })
            .unwrap_or(0) as u8;
        let class_counts = ds.class_counts();
        let class_means = sums
            .iter()
            .zip(class_counts)
            .map(|(s, c)| {
                if c == 0 {
                    Vec::new()
                } else {
                    s.iter().map(|&v| (v as f64 / c as f64) as f32).collect()
                }
            })
            .collect();
        Self {
            shape: [ds.len(), SIDE, SIDE],
            mean,
            median,
            std: var.sqrt(),
            min: histogram.iter().position(|&c| c > 0).unwrap_or(0) as u8,
            max: histogram.iter().rposition(|&c| c > 0).unwrap_or(0) as u8,
            zero_fraction: histogram[0] as f64 / n,
            class_counts,
            histogram,
            class_means,
        }
    }
}

/// Figure ids of [`analysis_figures`], in order.
pub const ANALYSIS_FIGURE_IDS: [&str; 5] = [
    "summary",
    "pixel-histogram",
    "samples-per-class",
    "class-balance",
    "class-means",
];

/// The five analysis figures for `ds`, showing `samples_per_class` example images of each class.
pub(crate) fn analysis_figures(
    ds: &Dataset,
    stats: &DatasetStats,
    samples_per_class: usize,
    label: &str,
) -> Vec<Figure> {
    vec![
        summary_table(stats, label),
        pixel_histogram(stats),
        samples_grid(ds, samples_per_class),
        class_balance(stats),
        class_means(stats),
    ]
}

fn summary_table(s: &DatasetStats, label: &str) -> Figure {
    let rows = [
        ("Dataset", label.to_string()),
        (
            "Shape",
            format!("({}, {}, {})", s.shape[0], s.shape[1], s.shape[2]),
        ),
        (
            "Classes",
            format!("{}", s.class_counts.iter().filter(|&&c| c > 0).count()),
        ),
        ("Pixel mean", format!("{:.2}", s.mean)),
        ("Pixel median", format!("{}", s.median)),
        ("Pixel std", format!("{:.2}", s.std)),
        ("Pixel min / max", format!("{} / {}", s.min, s.max)),
        ("Zero pixels", format!("{:.1}%", 100.0 * s.zero_fraction)),
    ];
    let (names, values): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
    Figure::new(
        "summary",
        "Summary statistics",
        vec![json!({
            "type": "table",
            "header": {"values": ["Statistic", "Value"], "align": "left", "font": {"size": 14}},
            "cells": {"values": [names, values], "align": "left", "height": 26},
        })],
        json!({"height": 400}),
    )
}

fn pixel_histogram(s: &DatasetStats) -> Figure {
    Figure::new(
        "pixel-histogram",
        "Pixel intensity histogram (log scale)",
        vec![json!({
            "type": "bar",
            "x": (0..256).collect::<Vec<_>>(),
            "y": s.histogram,
            "marker": {"color": "#4c78a8"},
            "hovertemplate": "value %{x}: %{y:,} pixels<extra></extra>",
        })],
        json!({"yaxis": {"type": "log", "dtick": 1, "title": {"text": "pixels"}}, "xaxis": {"title": {"text": "intensity"}}, "bargap": 0}),
    )
}

fn samples_grid(ds: &Dataset, per_class: usize) -> Figure {
    let per_class = per_class.max(1);
    let mut picked: Vec<Vec<usize>> = vec![Vec::new(); NUM_CLASSES];
    for i in 0..ds.len() {
        let c = ds.label(i) as usize;
        if picked[c].len() < per_class {
            picked[c].push(i);
        }
    }
    let blank = vec![f32::NAN; PIXELS];
    let tiles: Vec<Vec<f32>> = picked
        .iter()
        .flat_map(|idx| {
            (0..per_class).map(|k| match idx.get(k) {
                Some(&i) => ds.image(i).iter().map(|&p| p as f32).collect(),
                None => blank.clone(),
            })
        })
        .collect();
    let gap = 2;
    let z = nan_to_none(tile_grid(&tiles, SIDE, per_class, gap));
    let centres: Vec<usize> = (0..NUM_CLASSES)
        .map(|c| c * (SIDE + gap) + SIDE / 2)
        .collect();
    let yaxis = image_axis(
        &z,
        true,
        json!({"tickvals": centres, "ticktext": CLASS_NAMES}),
    );
    let xaxis = image_axis(&z, false, json!({"showticklabels": false}));
    Figure::new(
        "samples-per-class",
        "Samples per class",
        vec![heatmap(z, "%{z}")],
        json!({
            "height": 620,
            "yaxis": yaxis,
            "xaxis": xaxis,
            "margin": {"l": 100},
        }),
    )
}

fn class_balance(s: &DatasetStats) -> Figure {
    Figure::new(
        "class-balance",
        "Class balance",
        vec![json!({
            "type": "bar",
            "x": CLASS_NAMES,
            "y": s.class_counts,
            "marker": {"color": "#f58518"},
            "hovertemplate": "%{x}: %{y:,} images<extra></extra>",
        })],
        json!({"yaxis": {"title": {"text": "images"}}, "margin": {"b": 100, "r": 40}}),
    )
}

fn class_means(s: &DatasetStats) -> Figure {
    let tiles: Vec<Vec<f32>> = s
        .class_means
        .iter()
        .map(|m| {
            if m.is_empty() {
                vec![f32::NAN; PIXELS]
            } else {
                m.clone()
            }
        })
        .collect();
    let gap = 4;
    let z = nan_to_none(tile_grid(&tiles, SIDE, 5, gap));
    // Room above the first row for its labels: annotations outside the axis range are not drawn.
    let yaxis = image_axis(
        &z,
        true,
        json!({"showticklabels": false, "range": [z.len() as f64 - 0.5, -8.0]}),
    );
    let xaxis = image_axis(&z, false, json!({"showticklabels": false}));
    let annotations: Vec<_> = CLASS_NAMES
        .iter()
        .enumerate()
        .map(|(c, name)| {
            json!({"x": (c % 5) * (SIDE + gap) + SIDE / 2, "y": ((c / 5) * (SIDE + gap)) as f64 - 1.0, "text": name,
                   "showarrow": false, "yanchor": "bottom", "font": {"size": 12}})
        })
        .collect();
    Figure::new(
        "class-means",
        "Mean image of each class",
        vec![heatmap(z, "%{z:.0f}")],
        json!({
            "height": 380,
            "annotations": annotations,
            "yaxis": yaxis,
            "xaxis": xaxis,
            "margin": {"t": 70},
        }),
    )
}

/// An axis showing a tiled image pixel for pixel: explicit range (rows top-down for `vertical`), square
/// pixels, no grid. Explicit ranges avoid Plotly's autorange with `scaleanchor`, which can run away.
fn image_axis(
    z: &[Vec<Option<f32>>],
    vertical: bool,
    extra: serde_json::Value,
) -> serde_json::Value {
    let n = if vertical {
        z.len()
    } else {
        z.first().map_or(0, Vec::len)
    } as f64;
    let mut axis =
        json!({"showgrid": false, "zeroline": false, "ticks": "", "constrain": "domain"});
    if vertical {
        axis["range"] = json!([n - 0.5, -0.5]);
        axis["scaleanchor"] = json!("x");
    } else {
        axis["range"] = json!([-0.5, n - 0.5]);
    }
    if let (Some(a), serde_json::Value::Object(e)) = (axis.as_object_mut(), extra) {
        a.extend(e);
    }
    axis
}

fn heatmap(z: Vec<Vec<Option<f32>>>, hover: &str) -> serde_json::Value {
    json!({
        "type": "heatmap",
        "z": z,
        "colorscale": "Greys",
        "reversescale": true,
        "zmin": 0,
        "zmax": 255,
        "showscale": false,
        "hoverongaps": false,
        "hovertemplate": format!("{hover}<extra></extra>"),
    })
}

fn nan_to_none(z: Vec<Vec<Option<f32>>>) -> Vec<Vec<Option<f32>>> {
    z.into_iter()
        .map(|row| row.into_iter().map(|v| v.filter(|x| !x.is_nan())).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dataset {
        // Class c's image is all c*10, except pixel 0 which is 255.
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for c in 0..10u8 {
            for _ in 0..(c as usize + 1) {
                let mut img = vec![c * 10; PIXELS];
                img[0] = 255;
                images.extend(img);
                labels.push(c);
            }
        }
        Dataset::new(images, labels).unwrap()
    }

    #[test]
    fn stats_match_hand_computation() {
        let ds = toy();
        let s = DatasetStats::compute(&ds);
        assert_eq!(s.shape, [55, 28, 28]);
        assert_eq!(s.class_counts, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let n = 55.0 * 784.0;
        let sum: f64 = (0..10)
            .map(|c| (c + 1) as f64 * (783.0 * c as f64 * 10.0 + 255.0))
            .sum();
        assert!((s.mean - sum / n).abs() < 1e-9);
        assert_eq!(s.min, 0);
        assert_eq!(s.max, 255);
        assert_eq!(s.histogram.iter().sum::<u64>(), 55 * 784);
        assert_eq!(s.class_means[3][5], 30.0);
        assert_eq!(s.class_means[3][0], 255.0);
        // Median: cumulative count of pixels passes half within class 6 (value 60).
        assert_eq!(s.median, 60);
    }

    #[test]
    fn five_figures_with_expected_content() {
        let ds = toy();
        let s = DatasetStats::compute(&ds);
        let figs = analysis_figures(&ds, &s, 3, "toy");
        let ids: Vec<_> = figs.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ANALYSIS_FIGURE_IDS);
        assert_eq!(figs[1].layout["yaxis"]["type"], "log");
        assert_eq!(figs[3].data[0]["y"][9], 10);
        // Samples: 10 rows × 3 tiles of 28 with gaps of 2 → 298 × 88; class 0 has one image, the rest blank.
        let z = figs[2].data[0]["z"].as_array().unwrap();
        assert_eq!((z.len(), z[0].as_array().unwrap().len()), (298, 88));
        assert_eq!(z[0][0], 255.0);
        assert!(z[0][30].is_null());
        assert_eq!(z[31][31], 10.0);
        assert_eq!(figs[0].data[0]["cells"]["values"][1][1], "(55, 28, 28)");
        // Class-mean labels sit just above their tiles: row 0 at y = -1, row 1 at y = 31.
        assert_eq!(figs[4].layout["annotations"][0]["y"], -1.0);
        assert_eq!(figs[4].layout["annotations"][5]["y"], 31.0);
    }
}
