//! Plotly figures as plain data, built in Rust, drawn by Plotly.js in the web page and in the native
//! HTML reports alike.

use serde::Serialize;
use serde_json::{Value, json};

/// One Plotly figure: `Plotly.newPlot(id, data, layout)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    /// Stable identifier, used as the HTML element id.
    pub id: String,
    /// Human-readable title (also set in the layout).
    pub title: String,
    /// Plotly traces.
    pub data: Vec<Value>,
    /// Plotly layout.
    pub layout: Value,
}

impl Figure {
    /// A figure with the shared look (title, margins, transparent background) and `layout` merged on top.
    pub(crate) fn new(id: &str, title: &str, data: Vec<Value>, layout: Value) -> Self {
        let mut base = json!({
            "title": {"text": title},
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"family": "system-ui, sans-serif", "size": 13},
        });
        merge(&mut base, layout);
        Self {
            id: id.to_string(),
            title: title.to_string(),
            data,
            layout: base,
        }
    }
}

/// Deep-merges `patch` into `base` (objects key by key; anything else replaces).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

/// Lays out equal-size square tiles (`side × side` values each, `None` for gaps) in a grid of `cols`
/// columns with `gap` empty pixels between tiles: the `z` matrix of one heatmap, top row first.
pub(crate) fn tile_grid(
    tiles: &[Vec<f32>],
    side: usize,
    cols: usize,
    gap: usize,
) -> Vec<Vec<Option<f32>>> {
    let rows = tiles.len().div_ceil(cols.max(1));
    let height = rows * side + rows.saturating_sub(1) * gap;
    let width = cols * side + cols.saturating_sub(1) * gap;
    let mut z = vec![vec![None; width]; height];
    for (t, tile) in tiles.iter().enumerate() {
        let (r, c) = (t / cols, t % cols);
        for y in 0..side {
            for x in 0..side {
                z[r * (side + gap) + y][c * (side + gap) + x] = Some(tile[y * side + x]);
            }
        }
    }
    z
}

/// Renders figures as a standalone HTML page. `plotly_js` is inlined when given, so the report works
/// offline and requests nothing from any other origin; otherwise it loads `plotly.min.js` beside it.
pub fn html_report(title: &str, figures: &[Figure], plotly_js: Option<&str>) -> String {
    let script = match plotly_js {
        Some(js) => format!("<script>{}</script>", js.replace("</script", "<\\/script")),
        None => "<script src=\"plotly.min.js\"></script>".to_string(),
    };
    let mut body = String::new();
    for f in figures {
        body.push_str(&format!("<section class=\"figure\"><div id=\"{}\" role=\"img\" aria-label=\"{}\"></div></section>\n", esc(&f.id), esc(&f.title)));
    }
    // JSON inside <script>: escape '<' so no payload can close the tag.
    let payload = serde_json::to_string(figures)
        .expect("figures serialise")
        .replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n{script}\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1rem}}\
         .figure{{margin:1rem 0}}</style></head>\n<body><h1>{title}</h1>\n{body}\
         <script>const FIGURES = {payload};\nfor (const f of FIGURES) Plotly.newPlot(f.id, f.data, f.layout, {{responsive: true}});</script>\n\
         </body></html>\n",
        title = esc(title)
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_merged_over_defaults() {
        let f = Figure::new(
            "a",
            "A",
            vec![],
            json!({"margin": {"t": 5}, "yaxis": {"type": "log"}}),
        );
        assert_eq!(f.layout["margin"]["t"], 5);
        assert_eq!(f.layout["margin"]["l"], 60);
        assert_eq!(f.layout["yaxis"]["type"], "log");
        assert_eq!(f.layout["title"]["text"], "A");
    }

    #[test]
    fn tiles_with_gaps() {
        let tiles = vec![vec![1.0; 4], vec![2.0; 4], vec![3.0; 4]];
        let z = tile_grid(&tiles, 2, 2, 1);
        assert_eq!((z.len(), z[0].len()), (5, 5));
        assert_eq!(z[0][0], Some(1.0));
        assert_eq!(z[0][2], None);
        assert_eq!(z[0][3], Some(2.0));
        assert_eq!(z[3][0], Some(3.0));
        assert_eq!(z[4][4], None);
    }

    #[test]
    fn report_inlines_and_escapes() {
        let f = Figure::new(
            "x<y",
            "T",
            vec![json!({"type": "bar", "name": "</script>"})],
            json!({}),
        );
        let html = html_report("R&D", &[f], Some("var Plotly={};"));
        assert!(html.contains("var Plotly={};"));
        assert!(html.contains("R&amp;D"));
        assert!(!html.contains("</script>\"")); // the payload cannot close the script tag
        assert!(html.contains("id=\"x&lt;y\""));
        assert!(!html.contains("src=\"http"));
    }
}
