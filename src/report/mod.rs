//! What is shown about the data and the models: a model's recorded summary and its figures
//! ([`summary`]), the dataset's statistics and figures ([`analysis`]), and the Plotly figures and the
//! standalone HTML report they are drawn in ([`plot`]).

pub mod analysis;
pub mod plot;
pub mod summary;
