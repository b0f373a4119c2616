//! `metadata.managedFields`: who owns which field, and server-side apply.
//!
//! [`apply`] implements the apply operation of structured-merge-diff on
//! JSON values: conflicts with other managers (unless forced), merging the
//! applied configuration into the live object, and removing fields the
//! manager stopped applying when nobody else owns them. [`record_update`]
//! does the bookkeeping for every other write (create, update, patch): the
//! writer takes ownership of what it changed, removed fields lose owners.

use crate::fields::{FieldSet, ListType, Path, PathElement, Schema, field_path, get_at, item_key, remove_at};
use serde_json::{Map, Value, json};

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ManagedEntry {
    /// The field manager's name.
    pub(crate) manager: String,
    /// `Apply` or `Update`.
    pub(crate) operation: String,
    /// The apiVersion the manager used.
    pub(crate) api_version: String,
    /// When the entry last changed (RFC 3339).
    pub(crate) time: String,
    /// `status` for writes through the status subresource.
    pub(crate) subresource: Option<String>,
    /// The owned fields.
    pub(crate) set: FieldSet,
}

impl ManagedEntry {
    fn same_identity(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        m.insert("time".into(), json!(self.time));
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }
}

/// Reads the managedFields entries of an object.
pub(crate) fn read_entries(obj: &Value) -> Vec<ManagedEntry> {
    let Some(list) = obj.pointer("/metadata/managedFields").and_then(Value::as_array) else {
        return Vec::new();
    };
    let s = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    list.iter()
        .map(|e| ManagedEntry {
            manager: s(e, "manager"),
            operation: s(e, "operation"),
            api_version: s(e, "apiVersion"),
            time: s(e, "time"),
            subresource: e.get("subresource").and_then(Value::as_str).map(str::to_string),
            set: e.get("fieldsV1").map(FieldSet::from_fields_v1).unwrap_or_default(),
        })
        .collect()
}

/// Writes managedFields entries into an object, dropping empty ones.
pub(crate) fn write_entries(obj: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries.iter().filter(|e| !e.set.is_empty()).map(ManagedEntry::to_json).collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// Who is writing, with which apiVersion, through which subresource.
#[derive(Clone, Debug)]
pub(crate) struct Writer<'a> {
    /// The field manager.
    pub(crate) manager: &'a str,
    /// The apiVersion of the request.
    pub(crate) api_version: &'a str,
    /// `Some("status")` for the status subresource.
    pub(crate) subresource: Option<&'a str>,
    /// Whether the kind has a status subresource (then main-resource writes
    /// do not own status, and status writes own only status).
    pub(crate) has_status: bool,
    /// Merge-key knowledge for the kind.
    pub(crate) schema: Schema,
    /// The current time (RFC 3339).
    pub(crate) now: &'a str,
}

impl Writer<'_> {
    /// The fields of `obj` this writer can own: never the server-managed
    /// metadata, and only the part of the object its endpoint writes.
    pub(crate) fn owned_fields(&self, obj: &Value) -> FieldSet {
        let set = FieldSet::from_value(obj, &self.schema);
        let mut ignored = vec![field_path(&["apiVersion"]), field_path(&["kind"])];
        for f in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            ignored.push(field_path(&["metadata", f]));
        }
        let set = set.without_prefixes(&ignored);
        match (self.has_status, self.subresource) {
            (true, Some(_)) => set.only_prefixes(&[field_path(&["status"])]),
            (true, None) => set.without_prefixes(&[field_path(&["status"])]),
            _ => set,
        }
    }
}

/// A field another manager owns and the applier wants to change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Conflict {
    /// The other manager's entry (its identity; the set is not used).
    pub(crate) manager: String,
    /// Its operation.
    pub(crate) operation: String,
    /// Its apiVersion.
    pub(crate) api_version: String,
    /// Its subresource.
    pub(crate) subresource: Option<String>,
    /// When it last wrote.
    pub(crate) time: String,
    /// The contested field.
    pub(crate) path: Path,
}

/// Server-side apply of `config` by `writer` onto `live` (None: the object
/// does not exist yet). Returns the new object including managedFields, or
/// the conflicts when not forced.
pub(crate) fn apply(
    live: Option<&Value>,
    config: &Value,
    writer: &Writer<'_>,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let schema = writer.schema.clone();
    let config_set = writer.owned_fields(config);
    let mut merged = live.cloned().unwrap_or_else(|| json!({}));
    let mut entries = read_entries(&merged);

    let mut conflicts = Vec::new();
    // As in structured-merge-diff, a manager is its name, operation and
    // subresource: the applier's own Update entry can conflict with it.
    let mine = |e: &ManagedEntry| e.same_identity(writer.manager, "Apply", writer.subresource);
    for entry in entries.iter().filter(|e| !mine(e)) {
        for path in config_set.iter().filter(|p| entry.set.contains(p)) {
            if matches!(path.last(), Some(PathElement::Key(_))) {
                continue;
            }
            if get_at(&merged, path, &schema) != get_at(config, path, &schema) {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    operation: entry.operation.clone(),
                    api_version: entry.api_version.clone(),
                    subresource: entry.subresource.clone(),
                    time: entry.time.clone(),
                    path: path.clone(),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(conflicts);
        }
        for c in &conflicts {
            for e in entries
                .iter_mut()
                .filter(|e| e.manager == c.manager && e.operation == c.operation && e.subresource == c.subresource)
            {
                e.set.remove(&c.path);
            }
        }
    }

    merge_config(&mut merged, config, writer, &schema);

    let previous = entries.iter().find(|e| mine(e)).map(|e| e.set.clone()).unwrap_or_default();
    let others = entries.iter().filter(|e| !mine(e)).fold(FieldSet::new(), |acc, e| acc.union(&e.set));
    let keep = others.union(&config_set);
    prune(&mut merged, &previous.difference(&config_set), &keep, &schema);

    let entry = ManagedEntry {
        manager: writer.manager.to_string(),
        operation: "Apply".into(),
        api_version: writer.api_version.to_string(),
        time: writer.now.to_string(),
        subresource: writer.subresource.map(str::to_string),
        set: config_set,
    };
    match entries.iter_mut().find(|e| mine(e)) {
        Some(e) => *e = entry,
        None => entries.push(entry),
    }
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// Merges the part of `config` this writer may set into `live`.
fn merge_config(live: &mut Value, config: &Value, writer: &Writer<'_>, schema: &Schema) {
    let Some(cfg) = config.as_object() else {
        return;
    };
    if !live.is_object() {
        *live = json!({});
    }
    for (k, v) in cfg {
        let status_only = writer.has_status && writer.subresource.is_some();
        let skip = match k.as_str() {
            "status" => writer.has_status && writer.subresource.is_none(),
            "apiVersion" | "kind" => false,
            _ => status_only,
        };
        if skip {
            continue;
        }
        let mut path = vec![PathElement::Field(k.clone())];
        let target = live.as_object_mut().expect("checked above").entry(k.clone()).or_insert(Value::Null);
        merge_value(target, v, &mut path, schema);
    }
    if let Some(meta) = live.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["resourceVersion", "managedFields"] {
            if config.pointer(&format!("/metadata/{f}")).is_some() {
                meta.shift_remove(f);
            }
        }
    }
}

/// Structured merge of `applied` into `live` at `path`.
pub(crate) fn merge_value(live: &mut Value, applied: &Value, path: &mut Path, schema: &Schema) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !schema.is_atomic_map(path) => {
            for (k, av) in a {
                path.push(PathElement::Field(k.clone()));
                let slot = l.entry(k.clone()).or_insert(Value::Null);
                merge_value(slot, av, path, schema);
                path.pop();
            }
        }
        (Value::Array(l), Value::Array(a)) => match schema.list_type(path) {
            ListType::Atomic => *l = a.clone(),
            ListType::Set => {
                for item in a {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            ListType::Map(keys) => {
                for item in a {
                    let key = item_key(item, &keys);
                    match l.iter_mut().find(|x| key.is_some() && item_key(x, &keys) == key) {
                        Some(existing) => {
                            path.push(PathElement::Key(key.clone().unwrap_or_default()));
                            merge_value(existing, item, path, schema);
                            path.pop();
                        }
                        None => l.push(item.clone()),
                    }
                }
            }
        },
        (slot, applied) => *slot = applied.clone(),
    }
}

/// Removes the fields in `removed` that nobody in `keep` owns (shallowest
/// first, so a removed list item goes with its fields), then maps left
/// empty by the removal.
fn prune(obj: &mut Value, removed: &FieldSet, keep: &FieldSet, schema: &Schema) {
    let mut paths: Vec<&Path> = removed.iter().collect();
    paths.sort_by_key(|p| p.len());
    let mut gone: Vec<&Path> = Vec::new();
    for path in paths {
        if gone.iter().any(|g| path.starts_with(g)) || keep.contains(path) || keep.has_descendant(path) {
            continue;
        }
        if remove_at(obj, path, schema) {
            remove_empty_parents(obj, path, keep, schema);
        }
        gone.push(path);
    }
}

fn remove_empty_parents(obj: &mut Value, path: &Path, keep: &FieldSet, schema: &Schema) {
    let mut parent: Path = path[..path.len() - 1].to_vec();
    while parent.len() > 1 && matches!(parent.last(), Some(PathElement::Field(_))) {
        let empty = get_at(obj, &parent, schema).and_then(Value::as_object).is_some_and(Map::is_empty);
        if !empty || keep.contains(&parent) {
            break;
        }
        remove_at(obj, &parent, schema);
        parent.pop();
    }
}

/// Managed-fields bookkeeping for a non-apply write by `writer` turning
/// `old` (None on create) into `new`; updates `new`'s managedFields.
pub(crate) fn record_update(old: Option<&Value>, new: &mut Value, writer: &Writer<'_>) {
    let schema = writer.schema.clone();
    let mut entries = old.map(read_entries).unwrap_or_default();
    let old_set = old.map(|o| writer.owned_fields(o)).unwrap_or_default();
    let new_set = writer.owned_fields(new);
    let removed = old_set.difference(&new_set);
    let mut changed = FieldSet::new();
    for p in new_set.iter() {
        let differs = match old {
            None => true,
            Some(o) => {
                !old_set.contains(p)
                    || (!matches!(p.last(), Some(PathElement::Key(_)))
                        && get_at(o, p, &schema) != get_at(new, p, &schema))
            }
        };
        if differs {
            changed.insert(p.clone());
        }
    }
    // An update that adds a whole map (not a struct) owns the map itself
    // too, which fieldsV1 shows as `".": {}` (e.g. `f:labels: {.: {}, ..}`).
    for map in [&["metadata", "labels"][..], &["metadata", "annotations"], &["data"], &["binaryData"], &["stringData"]]
    {
        let path = field_path(map);
        let added = old.is_none_or(|o| get_at(o, &path, &schema).is_none());
        let present = get_at(new, &path, &schema).and_then(Value::as_object).is_some_and(|m| !m.is_empty());
        if added && present && !(writer.has_status && writer.subresource.is_some()) {
            changed.insert(path);
        }
    }
    for e in entries.iter_mut() {
        e.set = e.set.difference(&removed).difference(&changed);
    }
    if !changed.is_empty() {
        let mine = |e: &ManagedEntry| e.same_identity(writer.manager, "Update", writer.subresource);
        let entry = ManagedEntry {
            manager: writer.manager.to_string(),
            operation: "Update".into(),
            api_version: writer.api_version.to_string(),
            time: writer.now.to_string(),
            subresource: writer.subresource.map(str::to_string),
            set: changed.clone(),
        };
        match entries.iter_mut().find(|e| mine(e)) {
            Some(e) => {
                entry_union(e, entry);
            }
            None => entries.push(entry),
        }
    }
    write_entries(new, &entries);
}

fn entry_union(existing: &mut ManagedEntry, update: ManagedEntry) {
    existing.set = existing.set.union(&update.set);
    existing.time = update.time;
    existing.api_version = update.api_version;
}

/// Whether two objects are equal apart from managedFields timestamps.
pub(crate) fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(list) = v.pointer_mut("/metadata/managedFields").and_then(Value::as_array_mut) {
            for e in list {
                if let Some(m) = e.as_object_mut() {
                    m.shift_remove("time");
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests;
