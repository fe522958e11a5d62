//! Embeds prompts for the semantic cache through the gateway's own routing: the configured
//! embeddings model's first target (an OpenAI-compatible `/embeddings`, or the mock's).

use std::time::Duration;

use crate::lookup::Embedder;
use crate::route::{Health, Router};

pub struct RouterEmbedder<'a> {
    pub router: &'a Router,
    pub health: &'a Health,
}

const EMBED_TIMEOUT: Duration = Duration::from_secs(5);

#[async_trait::async_trait]
impl Embedder for RouterEmbedder<'_> {
    async fn embed(&self, model: &str, text: &str) -> Option<Vec<f32>> {
        let plan = self.router.plan(model, &[], self.health).ok()?;
        let target = &plan.first()?.target;
        let body = serde_json::json!({"model": target.model, "input": text});
        match tokio::time::timeout(EMBED_TIMEOUT, target.provider.embeddings(&body, &target.model)).await {
            Ok(Ok(answer)) => crate::semantic::first_embedding(&answer.body),
            Ok(Err(e)) => {
                tracing::warn!(model, error = %e.message, "semantic cache: cannot embed the prompt; exact matching only");
                None
            }
            Err(_) => {
                tracing::warn!(model, "semantic cache: the embeddings model did not answer in time; exact matching only");
                None
            }
        }
    }
}
