//! Reading live objects ahead: one paginated LIST per kind and namespace
//! that holds many of a wave's objects, instead of one GET per object, so a
//! no-op sync of 1,000 ConfigMaps costs two LIST pages rather than 1,000
//! round trips. Best effort: a kind that cannot be listed (RBAC grants `get`
//! only, say) or resolved is left to the per-object GET of apply.

use std::collections::HashMap;

use capstan_types::ObjectRef;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use crate::retry::RetryPolicy;

/// Fewest objects of one kind and namespace worth a LIST instead of GETs.
pub const READ_AHEAD_MIN_OBJECTS: usize = 16;

/// Objects per LIST page.
const PAGE_SIZE: u32 = 500;

/// `(apiVersion, kind, namespace)`.
type GroupKey = (String, String, Option<String>);

/// Live objects read ahead, by kind and namespace. A group that is present
/// was listed completely, so a name missing from it does not exist.
#[derive(Debug, Default)]
pub struct LiveObjects {
    groups: HashMap<GroupKey, HashMap<String, Value>>,
}

impl LiveObjects {
    /// `Some(live)` when the object's kind and namespace were read ahead
    /// (`live` is `None` when it does not exist); `None` when they were not.
    pub fn lookup(&self, object: &ObjectRef) -> Option<Option<&Value>> {
        let key = (object.api_version.clone(), object.kind.clone(), object.namespace.clone());
        self.groups.get(&key).map(|group| group.get(&object.name))
    }

    /// One reference per kind and namespace with at least
    /// [`READ_AHEAD_MIN_OBJECTS`] of `refs`, in a stable order.
    pub(crate) fn groups_worth_listing(refs: &[ObjectRef]) -> Vec<&ObjectRef> {
        let mut counts: HashMap<GroupKey, (usize, &ObjectRef)> = HashMap::new();
        for r in refs {
            let key = (r.api_version.clone(), r.kind.clone(), r.namespace.clone());
            counts.entry(key).or_insert((0, r)).0 += 1;
        }
        let mut worth: Vec<&ObjectRef> =
            counts.into_values().filter(|(n, _)| *n >= READ_AHEAD_MIN_OBJECTS).map(|(_, r)| r).collect();
        worth.sort_by(|a, b| (&a.api_version, &a.kind, &a.namespace).cmp(&(&b.api_version, &b.kind, &b.namespace)));
        worth
    }

    /// Lists the kind and namespace of `sample` through `api` (all pages) and
    /// keeps the result; on failure keeps nothing, so apply falls back to GETs.
    pub(crate) async fn list(&mut self, api: &Api<DynamicObject>, sample: &ObjectRef, retry: &RetryPolicy) {
        match list_all(api, sample, retry).await {
            Ok(group) => {
                self.groups.insert((sample.api_version.clone(), sample.kind.clone(), sample.namespace.clone()), group);
            }
            Err(error) => {
                tracing::debug!(kind = %sample.kind, namespace = ?sample.namespace, error = %error, "read-ahead LIST failed; reading objects one by one");
            }
        }
    }
}

/// Every object of `sample`'s kind and namespace, by name, with the
/// `apiVersion` and `kind` a LIST leaves out of its items.
async fn list_all(
    api: &Api<DynamicObject>,
    sample: &ObjectRef,
    retry: &RetryPolicy,
) -> Result<HashMap<String, Value>, kube::Error> {
    let mut group = HashMap::new();
    let mut params = ListParams::default().limit(PAGE_SIZE);
    loop {
        let page = retry.run("list", || api.list(&params)).await?;
        for item in page.items {
            let Some(name) = item.metadata.name.clone() else { continue };
            let mut value = serde_json::to_value(item).map_err(kube::Error::SerdeError)?;
            value["apiVersion"] = Value::String(sample.api_version.clone());
            value["kind"] = Value::String(sample.kind.clone());
            group.insert(name, value);
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(group),
        }
    }
}
