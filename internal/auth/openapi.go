package auth

// OpenAPISchemeName is the name of the bearer scheme in the OpenAPI
// document's components.securitySchemes.
const OpenAPISchemeName = "bearerAuth"

// OpenAPISecuritySchemes returns the OpenAPI 3.1 components.securitySchemes
// entry for the gateway's tokens.
func OpenAPISecuritySchemes() map[string]any {
	return map[string]any{
		OpenAPISchemeName: map[string]any{
			"type":   "http",
			"scheme": "bearer",
			"description": "An API token (rendezvous token create) with the operation's scope: " +
				"predict, feedback, read or admin (admin grants every scope). " +
				"Answers 401 without a known token and 403 without the scope. " +
				"A gateway without any token configured is open.",
		},
	}
}

// OpenAPISecurity returns an operation's "security" requirement for scope
// (the scope is listed for readers; HTTP bearer schemes carry no scopes
// of their own in OpenAPI, so it is informative). Open routes (health,
// readiness, metrics, the OpenAPI document) take an empty list: []any{}.
func OpenAPISecurity(scope Scope) []any {
	return []any{map[string]any{OpenAPISchemeName: []string{string(scope)}}}
}
