// Starts Swagger UI on /v3/api-docs (a file of its own: the pages allow no inline script).
window.ui = SwaggerUIBundle({
  url: "/v3/api-docs",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // No validator badge: it would ask a server on the internet to check the document.
  validatorUrl: null,
});
