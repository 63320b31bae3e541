//! What is shown about the data and the models: a model's recorded summary and its figures
//! ([`summary`]), the dataset's statistics and figures ([`analysis`]), the page's live figures
//! ([`live`]), the human-against-machine quiz ([`quiz`]), accuracy against an attack's budget
//! ([`robustness`]), the embedding map's chart ([`map`]), and the Plotly figures and the standalone HTML
//! report they are drawn in ([`plot`]).

pub mod analysis;
pub mod live;
pub mod map;
pub mod plot;
pub mod quiz;
pub mod robustness;
pub mod summary;
