// The API reference page: Swagger UI (vendored from swagger-ui-dist by
// `make generate`) showing the gateway's own OpenAPI 3 document. A file, not
// an inline script: the page's Content-Security-Policy allows none.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
	window.ui = SwaggerUIBundle({
		url: "/openapi.v3.json",
		dom_id: "#swagger-ui",
		deepLinking: true,
		// No call to validator.swagger.io: the page talks to this gateway only.
		validatorUrl: null,
		presets: [SwaggerUIBundle.presets.apis],
		layout: "BaseLayout",
		// A token pasted into "Authorize" is not kept in localStorage.
		persistAuthorization: false,
	});
});
