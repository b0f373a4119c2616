//! The kustomization file: its fields, decoded leniently where kustomize is
//! lenient (scalars as strings) and strictly where it is strict (unknown
//! fields are refused), with legacy fields folded into current ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{Error, Result};

/// File names kustomize looks for, in order.
pub const FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A string map whose values may be written as any scalar.
pub type StrMap = BTreeMap<String, String>;

/// Turns a scalar into the string kustomize reads.
pub fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn str_map<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<StrMap>, D::Error> {
    let v: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(v.map(|m| m.into_iter().map(|(k, v)| (k, scalar_string(&v))).collect()))
}

/// A `labels:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Label {
    /// The labels.
    #[serde(deserialize_with = "str_map")]
    pub pairs: Option<StrMap>,
    /// Also set selectors.
    pub include_selectors: bool,
    /// Also set pod templates.
    pub include_templates: bool,
    /// Extra field specs.
    pub fields: Vec<crate::fieldspec::FieldSpec>,
}

/// A `patches:`/`patchesJson6902:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Patch {
    /// A file holding the patch.
    pub path: Option<String>,
    /// The inline patch.
    pub patch: Option<String>,
    /// Which objects to patch.
    pub target: Option<Value>,
    /// `allowNameChange`, `allowKindChange`.
    pub options: Option<BTreeMap<String, bool>>,
}

/// An `images:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Image {
    /// The image name to match.
    #[serde(alias = "Name")]
    pub name: String,
    /// New name.
    #[serde(alias = "NewName", alias = "newname")]
    pub new_name: String,
    /// New tag.
    #[serde(deserialize_with = "opt_scalar", alias = "NewTag", alias = "newtag")]
    pub new_tag: Option<String>,
    /// New digest.
    #[serde(alias = "Digest")]
    pub digest: String,
    /// Suffix appended to the tag.
    pub tag_suffix: String,
}

fn opt_scalar<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let v: Option<Value> = Option::deserialize(d)?;
    Ok(v.map(|v| scalar_string(&v)))
}

/// A `replicas:` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Replica {
    /// Object name.
    pub name: String,
    /// Replica count.
    pub count: i64,
}

/// Field names of the kustomization file.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

/// The kustomization file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    #[serde(rename = "openapi")]
    pub open_api: Option<BTreeMap<String, String>>,
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    #[serde(deserialize_with = "str_map")]
    pub common_labels: Option<StrMap>,
    pub labels: Vec<Label>,
    #[serde(deserialize_with = "str_map")]
    pub common_annotations: Option<StrMap>,
    pub patches_strategic_merge: Vec<String>,
    #[serde(rename = "patchesJson6902")]
    pub patches_json6902: Vec<Patch>,
    pub patches: Vec<Patch>,
    pub images: Vec<Image>,
    pub image_tags: Vec<Image>,
    pub replacements: Vec<Value>,
    pub replicas: Vec<Replica>,
    pub vars: Vec<Value>,
    pub sort_options: Option<Value>,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub crds: Vec<String>,
    pub bases: Vec<String>,
    pub config_map_generator: Vec<Value>,
    pub secret_generator: Vec<Value>,
    pub helm_globals: Option<Value>,
    pub helm_charts: Vec<Value>,
    pub helm_chart_inflation_generator: Vec<Value>,
    pub generator_options: Option<Value>,
    pub configurations: Vec<String>,
    pub generators: Vec<String>,
    pub transformers: Vec<String>,
    pub validators: Vec<String>,
    pub build_metadata: Vec<String>,
}

impl Kustomization {
    /// Parses a kustomization file, folding legacy fields.
    pub fn parse(text: &str, file: &str) -> Result<Kustomization> {
        let v = crate::resource::parse_one(text, file)?;
        let mut v = if v.is_null() { Value::Object(Default::default()) } else { v };
        if let Value::Object(m) = &mut v {
            // Go's JSON decoding leaves a field alone when its value is
            // null: `patchesStrategicMerge:` with every entry commented out
            // is an empty list, not an error.
            m.retain(|_, v| !v.is_null());
            // Go's JSON decoding matches field names case-insensitively.
            let keys: Vec<String> = m.keys().cloned().collect();
            for key in keys {
                if let Some(canon) = FIELDS.iter().find(|f| **f != key && f.eq_ignore_ascii_case(&key))
                    && !m.contains_key(*canon)
                {
                    let val = m.shift_remove(&key).expect("present");
                    m.insert(canon.to_string(), val);
                }
            }
        }
        let mut k: Kustomization = serde_json::from_value(v)
            .map_err(|e| Error::field(file, "(file)", format!("invalid kustomization: {e}")))?;
        // Legacy: `bases` are resources; `imageTags` are images.
        let bases = std::mem::take(&mut k.bases);
        k.resources.extend(bases);
        let tags = std::mem::take(&mut k.image_tags);
        k.images.extend(tags);
        if let Some(kind) = &k.kind
            && kind != "Kustomization"
            && kind != "Component"
        {
            return Err(Error::field(file, "kind", format!("unknown kind '{kind}'")));
        }
        if !k.validators.is_empty() {
            return Err(Error::field(
                file,
                "validators",
                "validator plugins are external: builtin:kustomize runs only builtin plugins",
            ));
        }
        if !k.helm_charts.is_empty() || !k.helm_chart_inflation_generator.is_empty() {
            return Err(Error::field(
                file,
                "helmCharts",
                "helm charts are not supported by builtin:kustomize (use builtin:helm)",
            ));
        }
        Ok(k)
    }

    /// Checks what the kind requires (a Component's apiVersion).
    pub fn validate(&self, file: &str) -> Result<()> {
        if self.is_component()
            && let Some(av) = self.api_version.as_deref().filter(|a| *a != "kustomize.config.k8s.io/v1alpha1")
        {
            return Err(Error::field(
                file,
                "apiVersion",
                format!("apiVersion for Component should be kustomize.config.k8s.io/v1alpha1, not '{av}'"),
            ));
        }
        Ok(())
    }

    /// Whether this is a `kind: Component`.
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }
}
