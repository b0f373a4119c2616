// The types of the one host import of wit/plugin.wit (jco binds it at build time).
declare module "capstan:plugin/log@0.1.0" {
  export function log(level: "trace" | "debug" | "info" | "warn" | "error", message: string): void;
}
