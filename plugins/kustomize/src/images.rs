//! `images` (ImageTagTransformer) and `replicas` (ReplicaCountTransformer).

use serde_json::Value;

use crate::error::{Result, msg};
use crate::fieldspec::{self, Create, FieldSpec};
use crate::kustfile::{Image, Replica};
use crate::resource::Resource;

/// Splits an image reference into name, tag and digest (kustomize's rules).
pub fn split(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let id = search.find('@');
    let ic = search.find(':');
    match (ic, id) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (ic, Some(id)) if ic.is_none_or(|c| id < c) => {
            let id = id + slash;
            (image[..id].to_string(), String::new(), image[id + 1..].to_string())
        }
        (Some(ic), Some(id)) => {
            let (ic, id) = (ic + slash, id + slash);
            (image[..ic].to_string(), image[ic + 1..id].to_string(), image[id + 1..].to_string())
        }
        (Some(ic), None) => {
            let ic = ic + slash;
            (image[..ic].to_string(), image[ic + 1..].to_string(), String::new())
        }
        _ => (image.to_string(), String::new(), String::new()),
    }
}

struct Matcher {
    re: regex::Regex,
}

impl Matcher {
    fn new(name: &str) -> Matcher {
        let pat = |n: &str| format!("^{n}(@sha256)?(:[a-zA-Z0-9_.{{}}-]*)?$");
        let re = regex::Regex::new(&pat(name))
            .unwrap_or_else(|_| regex::Regex::new(&pat(&regex::escape(name))).expect("escaped"));
        Matcher { re }
    }
}

fn update(value: &str, img: &Image, m: &Matcher) -> Option<String> {
    if !m.re.is_match(value) {
        return None;
    }
    let (mut name, mut tag, mut digest) = split(value);
    if !img.new_name.is_empty() {
        name = img.new_name.clone();
    }
    let new_tag = img.new_tag.clone().unwrap_or_default();
    match (new_tag.is_empty(), img.digest.is_empty()) {
        (false, false) => {
            tag = new_tag;
            digest = img.digest.clone();
        }
        (false, true) => {
            tag = new_tag;
            digest.clear();
        }
        (true, false) => {
            tag.clear();
            digest = img.digest.clone();
        }
        _ => {}
    }
    if !img.tag_suffix.is_empty() {
        tag.push_str(&img.tag_suffix);
    }
    if !tag.is_empty() {
        name = format!("{name}:{tag}");
    }
    if !digest.is_empty() {
        name = format!("{name}@{digest}");
    }
    Some(name)
}

fn legacy(node: &mut Value, img: &Image, m: &Matcher) {
    match node {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if (k == "containers" || k == "initContainers") && v.is_array() {
                    for c in v.as_array_mut().expect("array") {
                        if let Some(Value::String(s)) = c.get_mut("image")
                            && let Some(n) = update(s, img, m)
                        {
                            *s = n;
                        }
                    }
                } else {
                    legacy(v, img, m);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| legacy(x, img, m)),
        _ => {}
    }
}

/// Applies one image override.
pub fn set_image(res: &mut [Resource], img: &Image, specs: &[FieldSpec]) -> Result<()> {
    let m = Matcher::new(&img.name);
    for r in res.iter_mut() {
        let gvk = r.gvk();
        legacy(&mut r.obj, img, &m);
        for fs in specs {
            if !fs.applies_to(&gvk) {
                continue;
            }
            fieldspec::apply_path(&mut r.obj, &fs.path, false, Create::Scalar, &mut |node| {
                if let Value::String(s) = node
                    && let Some(n) = update(s, img, &m)
                {
                    *s = n;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Applies one replica count.
pub fn set_replicas(res: &mut [Resource], rep: &Replica, specs: &[FieldSpec]) -> Result<()> {
    let mut found = false;
    for fs in specs {
        if fs.skip {
            continue;
        }
        let sel = fs.gvk();
        for r in res.iter_mut() {
            let had = r.prev.iter().any(|id| id.name == rep.name && id.gvk.selected_by(&sel));
            if !(had || (r.name() == rep.name && r.gvk_ref().selected_by(&sel))) {
                continue;
            }
            found = true;
            fieldspec::apply(&mut r.obj, fs, Create::Scalar, &mut |node| {
                *node = Value::from(rep.count);
                Ok(())
            })?;
        }
    }
    if !found {
        let kinds: Vec<String> = specs.iter().map(|f| f.kind.clone()).collect();
        return Err(msg(format!(
            "resource with name {} does not match a config with the following GVK [{}]",
            rep.name,
            kinds.join(" ")
        )));
    }
    Ok(())
}
