use super::*;
use serde_json::json;

#[test]
fn field_set_of_a_deployment_matches_the_real_fieldsv1_shape() {
    let apply = json!({
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}
            }
        }
    });
    let set = FieldSet::from_value(&apply, &Schema::BUILTIN);
    assert_eq!(
        set.to_fields_v1(),
        json!({"f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                    ".": {},
                    "f:image": {},
                    "f:name": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                        ".": {},
                        "f:containerPort": {}
                    }}
                }}}
            }
        }})
    );
}

#[test]
fn fields_v1_round_trips_and_sets_use_values() {
    let obj = json!({"metadata": {"finalizers": ["a", "b"], "labels": {"x": "1"}}, "data": {}});
    let set = FieldSet::from_value(&obj, &Schema::CUSTOM);
    let v1 = set.to_fields_v1();
    assert_eq!(
        v1,
        json!({"f:data": {}, "f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}, "f:labels": {"f:x": {}}}})
    );
    assert_eq!(FieldSet::from_fields_v1(&v1), set);
}

#[test]
fn custom_resources_have_atomic_lists() {
    let obj = json!({"spec": {"containers": [{"name": "a"}]}});
    let set = FieldSet::from_value(&obj, &Schema::CUSTOM);
    assert_eq!(set.to_fields_v1(), json!({"f:spec": {"f:containers": {}}}));
}

#[test]
fn paths_display_like_structured_merge_diff() {
    let path = vec![
        PathElement::Field("spec".into()),
        PathElement::Field("containers".into()),
        PathElement::Key(r#"{"name":"nginx"}"#.into()),
        PathElement::Field("image".into()),
    ];
    assert_eq!(DisplayPath(&path).to_string(), r#".spec.containers[name="nginx"].image"#);
}

#[test]
fn get_and_remove_by_key() {
    let mut obj = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}});
    let path = vec![
        PathElement::Field("spec".into()),
        PathElement::Field("containers".into()),
        PathElement::Key(r#"{"name":"a"}"#.into()),
        PathElement::Field("image".into()),
    ];
    assert_eq!(get_at(&obj, &path, &Schema::BUILTIN), Some(&json!("x")));
    assert!(remove_at(&mut obj, &path[..3], &Schema::BUILTIN));
    assert_eq!(obj, json!({"spec": {"containers": [{"name": "b"}]}}));
}

#[test]
fn crd_schemas_declare_list_and_map_types() {
    let schema =
        Schema::custom(Some(json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object"}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic"}
        }}}})));
    let obj = json!({"spec": {"ports": [{"name": "a", "port": 1}], "tags": ["x"], "selector": {"k": "v"}}});
    assert_eq!(
        FieldSet::from_value(&obj, &schema).to_fields_v1(),
        json!({"f:spec": {
            "f:ports": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}, "f:port": {}}},
            "f:selector": {},
            "f:tags": {"v:\"x\"": {}}
        }})
    );
}
