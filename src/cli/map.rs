//! The CLI's `map` command: the embedding map of test images, from one space by PCA, t-SNE or UMAP, with the
//! share of each query image's nearest neighbours of its class, and the chart as a standalone HTML page.

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;

use crate::classical::{ClassicalKind, ClassicalModel};
use crate::cli::store::{read_file, weights_dir};
use crate::cli::train::load_model;
use crate::cli::{CliError, find_plotly, write_atomic};
use crate::data::{CLASS_NAMES, PIXELS, Split, local};
use crate::deep::models::DeepModelKind;
use crate::deep::train::block_on;
use crate::embedding::{MapRun, Method, Space, features, neighbour_share};
use crate::report::map::embedding_figure;
use crate::report::plot::html_report;
use crate::report::quiz::quiz_items;

/// What `fashionlab map` is asked to do.
pub(crate) struct MapArgs<'a> {
    /// `pixels`, `hog` or `deep`.
    pub space: &'a str,
    /// `pca`, `tsne` or `umap`.
    pub method: &'a str,
    /// The first `images` test images are mapped.
    pub images: usize,
    /// t-SNE's perplexity and iterations.
    pub perplexity: f64,
    /// t-SNE's iterations.
    pub iterations: usize,
    /// The official files' directory (else the usual places).
    pub data: Option<&'a Path>,
    /// The shipped models' directory (the CNN's penultimate layer and rings, the SVM's features).
    pub weights: &'a Path,
    /// Where to write the chart as a standalone HTML page, if anywhere.
    pub html: Option<&'a Path>,
}

/// `fashionlab map`: prints the times and the neighbour shares, and writes the chart.
pub(crate) fn run(args: &MapArgs) -> Result<(), CliError> {
    let space = Space::parse(args.space)?;
    let method = Method::parse(args.method, args.perplexity, args.iterations)?;
    let device = Device::flex();
    let (cnn, header) = load_model(DeepModelKind::Cnn, "cnn", args.weights, &device)?;
    let svm_path = weights_dir(args.weights).join("svm.model");
    let svm = ClassicalModel::from_bytes(&read_file(&svm_path)?, Some(ClassicalKind::Svm))?;
    let test = local::load_split(&local::locate(args.data)?, Split::Test)?;
    let n = args.images.clamp(1, test.len());
    let (pixels, labels) = (&test.pixels()[..n * PIXELS], &test.labels()[..n]);

    let start = Instant::now();
    let f = block_on(features(
        space,
        pixels,
        Some(&svm),
        (&cnn, header.normalization),
        &device,
    ))?;
    let (dims, predicted) = (f.dims, &f.predicted);
    let features_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut map = MapRun::new(&f.values, dims, method)?;
    while !map.step() {}
    let map_seconds = start.elapsed().as_secs_f64();
    let points = map.embedding();

    let queries = quiz_items(labels, 10, 0);
    let share = neighbour_share(&points, labels, &queries, 10)?;
    println!(
        "{} of {n} test images from the {} space ({dims} values each): features in {features_seconds:.1} s, map in {map_seconds:.1} s",
        args.method.to_uppercase(),
        space.name()
    );
    println!(
        "10 nearest neighbours of {} query images (10 a class) of their class: {:.1}%",
        share.queries,
        100.0 * share.overall
    );
    for (c, s) in share.per_class.iter().enumerate() {
        if let Some(s) = s {
            println!("  {:<12} {:.0}%", CLASS_NAMES[c], 100.0 * s);
        }
    }
    if let Some(path) = args.html {
        let wrong: Vec<bool> = predicted.iter().zip(labels).map(|(p, l)| p != l).collect();
        let title = format!(
            "{} of {n} test images from the {} space: {:.0}% of 10 nearest neighbours share the class",
            args.method.to_uppercase(),
            space.name(),
            100.0 * share.overall
        );
        let figure = embedding_figure(&points, labels, &wrong, "CNN", &title, true)?;
        let plotly = find_plotly(None)?;
        write_atomic(
            path,
            html_report(&title, &[figure], plotly.as_deref()).as_bytes(),
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
