// Entry file (builtin:jsonnet's default): a function of top-level
// arguments, as `jsonnet --tla-str image=... --tla-code replicas=3`;
// std.extVar('env') comes from the Application's extVars.
local webapp = import 'webapp.libsonnet';

function(image, replicas=1)
  assert replicas >= 1 : 'replicas must be at least 1, got %d' % replicas;
  webapp.new('webapp', image, replicas, std.extVar('env'))
