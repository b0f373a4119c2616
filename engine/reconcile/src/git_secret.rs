//! `spec.source.secretRef`: the repository's credentials from a Secret in
//! the Application's namespace (Flux's `GitRepository.spec.secretRef`), read
//! through the target cluster's client right before the fetch. Nothing is
//! cached: a rotated Secret is used by the next sync.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow};
use capstan_source::Credentials;
use capstan_types::Application;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;

/// Where the Secret of an Application without `metadata.namespace` is looked for.
const DEFAULT_NAMESPACE: &str = "default";

/// The credentials the Application's `secretRef` names, or `None` without one.
pub(crate) async fn credentials(app: &Application, client: &kube::Client) -> Result<Option<Credentials>> {
    let Some(secret_ref) = &app.spec.source.secret_ref else { return Ok(None) };
    let namespace = app.metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let name = &secret_ref.name;
    let context = || format!("application {}: Secret {namespace}/{name} (spec.source.secretRef)", app.metadata.name);
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .with_context(|| format!("{}: failed to read it", context()))?
        .ok_or_else(|| anyhow!("{}: not found", context()))?;
    let mut data: BTreeMap<String, Vec<u8>> =
        secret.data.unwrap_or_default().into_iter().map(|(key, value)| (key, value.0)).collect();
    // A real API server folds `stringData` into `data`; the embedded local
    // server stores the object as written.
    for (key, value) in secret.string_data.unwrap_or_default() {
        data.entry(key).or_insert_with(|| value.into_bytes());
    }
    let credentials = Credentials::from_secret_data(&data).with_context(context)?;
    credentials.check_for(&app.spec.source.repo_url).with_context(context)?;
    Ok(Some(credentials))
}

/// Refuses an Application with a `secretRef` when no cluster is at hand to
/// read it from and no credentials file covers its URL.
pub(crate) fn without_cluster(app: &Application, has_credentials: bool) -> Result<()> {
    match &app.spec.source.secret_ref {
        Some(secret_ref) if !has_credentials => Err(anyhow!(
            "application {}: spec.source.secretRef names Secret {}/{}, which only `sync` and `diff` read from the \
             cluster; pass the credentials with --git-credentials instead",
            app.metadata.name,
            app.metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
            secret_ref.name
        )),
        _ => Ok(()),
    }
}
