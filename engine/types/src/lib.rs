//! Capstan's data model, free of I/O: the [`Application`] resource, Kubernetes
//! [`Object`]s as they travel between stages, [`ObjectRef`]s and
//! [`Diagnostic`]s.
//!
//! Every other stage depends on this crate; it depends on no client, no
//! runtime and no plugin host. Start with [`Application`].

mod application;
mod object;
mod platform;

pub use application::{
    Application, Destination, Enforcement, Error, HealthCheck, IgnoreDifference, Metadata, PluginLimits, PluginStage,
    SecretRef, Source, Spec, SyncPolicy, Verify, VerifyMode,
};
pub use object::{Diagnostic, Object, ObjectError, ObjectRef, Severity};
pub use platform::{PlatformError, PlatformPolicy, PlatformSpec, PlatformStage, platform_policies};
