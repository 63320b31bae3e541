//! The CLI's `attack` command: adversarial examples made against one shipped deep model on test
//! images, and every shipped model's accuracy on them at each ε (the page's accuracy-against-ε chart, on
//! more images).

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;

use crate::cli::photos::scorers;
use crate::cli::train::{deep_model_name, load_model};
use crate::cli::{CliError, write_atomic};
use crate::data::{NUM_CLASSES, PIXELS, Split, local};
use crate::deep::attack::{AttackConfig, AttackMethod, attack as perturb};
use crate::deep::train::block_on;
use crate::metrics::argmax_rows;
use crate::report::robustness::robustness;

/// What `fashionlab attack` is asked to do.
pub(crate) struct AttackArgs<'a> {
    /// The attacked model's file stem in `weights` (`cnn`, `resnet`, `mlp`, `cnn-photo`, …).
    pub model: &'a str,
    /// `fgsm`, `pgd` or `noise`.
    pub method: &'a str,
    /// The budgets, on the 0..=255 scale.
    pub epsilons: &'a [u8],
    /// The first `images` test images are attacked.
    pub images: usize,
    /// PGD's steps.
    pub steps: usize,
    /// PGD's start and the noise.
    pub seed: u64,
    /// The official files' directory (else the usual places).
    pub data: Option<&'a Path>,
    /// The shipped models' directory.
    pub weights: &'a Path,
    /// Where to write the result as JSON, if anywhere.
    pub json: Option<&'a Path>,
}

/// `fashionlab attack`: prints each model's accuracy at each ε and the time the attack took.
pub(crate) fn run(args: &AttackArgs) -> Result<(), CliError> {
    let method = AttackMethod::parse(args.method).ok_or_else(|| {
        CliError::Usage(format!(
            "unknown attack {:?}: fgsm, pgd or noise",
            args.method
        ))
    })?;
    let config = AttackConfig::new(method, 0, args.steps, args.seed)?;
    let configs = args
        .epsilons
        .iter()
        .map(|&eps| config.with_epsilon(eps))
        .collect::<Result<Vec<_>, _>>()?;
    let (kind, name) = deep_model_name(args.model)?;
    let device = Device::flex();
    let (net, header) = load_model(kind, &name, args.weights, &device)?;
    let test = local::load_split(&local::locate(args.data)?, Split::Test)?;
    let n = args.images.clamp(1, test.len());
    let (pixels, truth) = (&test.pixels()[..n * PIXELS], &test.labels()[..n]);
    let mut models = scorers(args.weights)?;
    // The attacked model first: the chart draws it first and thicker.
    models.sort_by_key(|(m, _)| *m != name);
    let mut predictions: Vec<(String, Vec<Vec<u8>>)> = models
        .iter()
        .map(|(m, _)| (m.clone(), Vec::new()))
        .collect();
    println!(
        "{} against {name} on the first {n} test images ({} steps for PGD, seed {}):",
        method.name().to_uppercase(),
        args.steps,
        args.seed
    );
    for config in &configs {
        let start = Instant::now();
        let adversarial = block_on(perturb(
            &net,
            pixels,
            truth,
            header.normalization,
            config,
            &device,
        ))?;
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "  ε = {:>2}: made in {seconds:.2} s ({:.2} ms an image)",
            config.epsilon(),
            1000.0 * seconds / n as f64
        );
        for ((_, score), (_, per_eps)) in models.iter().zip(&mut predictions) {
            per_eps.push(argmax_rows(&score(&adversarial)?, NUM_CLASSES));
        }
    }
    let result = robustness(method.name(), truth, args.epsilons, &predictions)?;
    print!("{:<14}", "ε");
    for eps in args.epsilons {
        print!("{eps:>8}");
    }
    println!();
    for (model, accuracy) in &result.models {
        print!("{model:<14}");
        for a in accuracy {
            print!("{:>7.1}%", 100.0 * a);
        }
        println!();
    }
    if let Some(path) = args.json {
        let json = serde_json::to_vec_pretty(&result).expect("plain data serialises");
        write_atomic(path, &json)?;
    }
    Ok(())
}
