//! `lanyard serve`.

use std::sync::Arc;

use super::Failure;
use crate::app::{Application, prepare};
use crate::clock::SystemClock;
use crate::config::Config;

pub async fn run(config: Config) -> Result<(), Failure> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let state = prepare(config, Arc::new(SystemClock), 16).await?;
    let issuer = state.provider.config.issuer.clone();
    let app = Application::build(state, workers)?;
    tracing::info!(%issuer, address = %app.address(), "listening");
    eprintln!("lanyard: listening on {} as {issuer}", app.address());
    if let Some(metrics) = app.metrics_address() {
        eprintln!("lanyard: /metrics on {metrics}");
    }
    app.run_until_stopped()
        .await
        .map_err(|e| Failure::refused(format!("server error: {e}")))
}
