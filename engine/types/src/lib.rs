//! Capstan's data model, free of I/O: the [`Application`] resource, Kubernetes
//! [`Object`]s as they travel between stages, [`ObjectRef`]s and
//! [`Diagnostic`]s; [`text`] escapes what others wrote before it is printed.
//!
//! Every other stage depends on this crate; it depends on no client, no
//! runtime and no plugin host (kube's derive and schema types only, for the
//! CRD). Start with [`Application`]; in the cluster it is
//! [`ApplicationResource`] with an [`ApplicationStatus`].

mod application;
mod crd;
pub mod names;
mod object;
mod platform;
mod request;
mod status;
pub mod text;

pub use application::{
    API_VERSION, Allow, Application, ApplicationResource, Automated, Backoff, Dependency, Destination, Enforcement,
    Error, GroupKind, HealthCheck, IgnoreDifference, Metadata, PluginLimits, PluginStage, RetryStrategy, SecretRef,
    Source, Spec, SyncPolicy, Verify, VerifyMode,
};
pub use crd::crd_yaml;
pub use names::NameError;
pub use object::{Diagnostic, HOOK_ANNOTATIONS, MAX_GENERATE_NAME_PREFIX, Object, ObjectError, ObjectRef, Severity};
pub use platform::{PlatformError, PlatformPolicy, PlatformSpec, PlatformStage, platform_policies};
pub use request::{MAX_REQUEST_BYTES, OPERATION_ANNOTATION, OperationRequest, RequestError, RequestKind};
pub use status::{
    ApplicationStatus, AutomationSuspended, Condition, Difference, HISTORY_LIMIT, HealthStatus, HistoryEntry,
    Operation, POLICY_FINDINGS_LIMIT, PluginDigest, PolicyFinding, ResourceStatus, Revision, SyncStatus,
};
