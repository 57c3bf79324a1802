/**
 * ssh2 builds an optional native crypto binding (sshcrypto.node) when it is installed. On
 * Node.js 24.19 and later the node::ObjectWrap code compiled into that binding aborts the
 * whole process when the garbage collector reclaims one of its cipher objects ("Assertion
 * failed: (env) != nullptr" in RemoveEnvironmentCleanupHook, nodejs/node#65446): a daemon that
 * ever opened an SSH connection would die at some later collection. ssh2 uses Node's own
 * crypto when the binding cannot be loaded, so heir keeps it from loading. Imported by the
 * only module that imports ssh2, before ssh2.
 */
type NodeLoader = ((module: unknown, filename: string) => unknown) & { heirGuard?: true };

const BINDING = /[\\/]ssh2[\\/]lib[\\/]protocol[\\/]crypto[\\/]build[\\/][^\\/]+[\\/]sshcrypto\.node$/;

/** Whether a native module file is ssh2's crypto binding (pure). */
export function isSsh2Binding(filename: string): boolean {
  return BINDING.test(filename);
}

const extensions = (require('node:module') as { _extensions: Record<string, NodeLoader> })._extensions;
const load = extensions['.node'];
if (load && !load.heirGuard) {
  const guarded: NodeLoader = function (this: unknown, module: unknown, filename: string) {
    if (isSsh2Binding(filename)) throw new Error(`${filename} is not loaded: it aborts Node.js 24.19+ when a cipher object is garbage-collected (nodejs/node#65446)`);
    return load.call(this, module, filename);
  };
  guarded.heirGuard = true;
  extensions['.node'] = guarded;
}
