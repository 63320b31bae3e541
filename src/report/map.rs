//! The embedding map's chart: one point per image, coloured by its class, with a ring around each image
//! a model got wrong. Every point carries its image's index (`customdata`), so the page can show the
//! image under the pointer and open it in the classifier.

use serde_json::json;
use thiserror::Error;

use crate::data::{CLASS_NAMES, NUM_CLASSES};
use crate::report::plot::Figure;

/// The ten classes' colours (Plotly's default qualitative palette).
const CLASS_COLOURS: [&str; NUM_CLASSES] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Errors of the map's chart.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MapFigureError {
    /// Points, labels and marks do not fit together.
    #[error(
        "{points} map values, {labels} labels and {wrong} right-or-wrong marks do not fit together"
    )]
    Mismatch {
        /// Map values (two per point).
        points: usize,
        /// Labels.
        labels: usize,
        /// Marks.
        wrong: usize,
    },
    /// A class outside 0..=9.
    #[error("class {0} is outside 0..=9")]
    Class(u8),
}

/// The chart of a 2-D map (`points`: n × 2) of images of `labels`, ringing those marked `wrong` (by
/// `judge`, named in the legend). `webgl` draws with WebGL (`scattergl`), as the CLI's standalone report
/// does and the page does for large maps (with Plotly's strict bundle, whose WebGL code is compiled ahead
/// of time, as the page's Content-Security-Policy requires); else SVG (`scatter`).
pub(crate) fn embedding_figure(
    points: &[f32],
    labels: &[u8],
    wrong: &[bool],
    judge: &str,
    title: &str,
    webgl: bool,
) -> Result<Figure, MapFigureError> {
    let n = labels.len();
    if points.len() != 2 * n || wrong.len() != n {
        return Err(MapFigureError::Mismatch {
            points: points.len(),
            labels: n,
            wrong: wrong.len(),
        });
    }
    if let Some(&c) = labels.iter().find(|&&c| c as usize >= NUM_CLASSES) {
        return Err(MapFigureError::Class(c));
    }
    let kind = if webgl { "scattergl" } else { "scatter" };
    let size = if n > 2000 { 4 } else { 6 };
    let mut data: Vec<_> = (0..NUM_CLASSES)
        .map(|c| {
            let members: Vec<usize> = (0..n).filter(|&i| labels[i] as usize == c).collect();
            json!({
                "type": kind, "mode": "markers", "name": CLASS_NAMES[c],
                "x": members.iter().map(|&i| points[2 * i]).collect::<Vec<_>>(),
                "y": members.iter().map(|&i| points[2 * i + 1]).collect::<Vec<_>>(),
                "customdata": members,
                "marker": {"size": size, "color": CLASS_COLOURS[c]},
                "hovertemplate": format!("{}, image %{{customdata}}<extra></extra>", CLASS_NAMES[c]),
            })
        })
        .collect();
    let rung: Vec<usize> = (0..n).filter(|&i| wrong[i]).collect();
    data.push(json!({
        "type": kind, "mode": "markers", "name": format!("{judge} wrong ({})", rung.len()),
        "x": rung.iter().map(|&i| points[2 * i]).collect::<Vec<_>>(),
        "y": rung.iter().map(|&i| points[2 * i + 1]).collect::<Vec<_>>(),
        "customdata": rung,
        "marker": {"size": size + 6, "symbol": "circle-open", "color": "#000", "line": {"width": 1}},
        "hoverinfo": "skip",
    }));
    Ok(Figure::new(
        "embedding-map",
        title,
        data,
        json!({
            "height": 560,
            "xaxis": {"showticklabels": false, "zeroline": false, "showgrid": false},
            "yaxis": {"showticklabels": false, "zeroline": false, "showgrid": false,
                      "scaleanchor": "x"},
            "legend": {"itemsizing": "constant"},
            "hovermode": "closest",
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_is_a_trace_and_the_wrong_images_are_ringed() {
        let points = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
        let labels = [3, 0, 3, 9];
        let f = embedding_figure(
            &points,
            &labels,
            &[false, true, true, false],
            "CNN",
            "map",
            true,
        )
        .unwrap();
        assert_eq!(f.data.len(), 11);
        assert_eq!(f.data[3]["name"], "Dress");
        assert_eq!(f.data[3]["x"], json!([0.0, 4.0]));
        assert_eq!(f.data[3]["y"], json!([1.0, 5.0]));
        assert_eq!(f.data[3]["customdata"], json!([0, 2]));
        assert_eq!(f.data[3]["type"], "scattergl");
        assert_eq!(f.data[0]["customdata"], json!([1]));
        assert_eq!(f.data[9]["customdata"], json!([3]));
        assert_eq!(f.data[5]["x"], json!([]));
        assert_eq!(f.data[10]["customdata"], json!([1, 2]));
        assert_eq!(f.data[10]["name"], "CNN wrong (2)");
        let svg = embedding_figure(&points, &labels, &[false; 4], "CNN", "map", false).unwrap();
        assert_eq!(svg.data[0]["type"], "scatter");
        assert!(embedding_figure(&points, &labels, &[false; 3], "CNN", "map", true).is_err());
        assert_eq!(
            embedding_figure(&points, &[3, 0, 3, 10], &[false; 4], "CNN", "map", true),
            Err(MapFigureError::Class(10))
        );
    }
}
