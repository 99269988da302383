// The labels every rendered session pod carries; rules, guardrails, merge and manifests share them.

/** Marks a pod as a Portcullis session (the name ContainerSSH uses, for compatible tooling). */
export const SESSION_LABEL = 'containerssh.io/session';
/** The standard Kubernetes label naming the tool that manages an object. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
