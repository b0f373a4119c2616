//! `controller-under-test KUBECONFIG NAMESPACE LISTEN CACHE_DIR`: the
//! controller in a process of its own, with the guests built from this
//! tree, so the restart suite can SIGKILL it mid-sync and start it again
//! on the same cache. It counts its API requests and plugin calls on
//! `/metrics` as the real binaries do. Logs go to stderr (`CAPSTAN_LOG` filters them).

use std::path::Path;

use anyhow::{Context, Result};
use capstan::Engine;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kubeconfig, namespace, listen, cache] = args.as_slice() else {
        anyhow::bail!("usage: controller-under-test KUBECONFIG NAMESPACE LISTEN CACHE_DIR");
    };
    let filter = std::env::var("CAPSTAN_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let mut config = capstan_integration::engine_config(Path::new(cache));
    let metrics = capstan_controller::cli::observed(&mut config);
    let engine = Engine::new(config)?;
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).context("reading the kubeconfig")?;
    let kube_config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = capstan_controller::cli::counting_client(kube_config.clone(), &metrics)?;
    let config = capstan_controller::Config {
        namespace: Some(namespace.clone()),
        listen: listen.parse().context("LISTEN")?,
        kube_config: Some(kube_config),
        metrics,
        ..capstan_controller::Config::new()
    };
    capstan_controller::run(engine, client, config, std::future::pending()).await?;
    Ok(())
}
