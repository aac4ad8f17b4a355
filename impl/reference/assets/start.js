// The reference's settings. Everything it shows and runs comes from this
// server: the document (REST operations, webhook events and the tested code
// samples), "try it" against this server's /api/v1 (no proxy), no fonts,
// agent or client from other hosts.
(function () {
  "use strict";
  var app = document.getElementById("app");
  Scalar.createApiReference(app, {
    url: app.getAttribute("data-document"),
    title: "IAGENTE SDR",
    layout: "modern",
    theme: "default",
    withDefaultFonts: false,
    hideClientButton: true,
    hideDarkModeToggle: true,
    forceDarkModeState: "light",
    showDeveloperTools: "never",
    agent: { disabled: true },
    mcp: { disabled: true },
    telemetry: false,
    persistAuth: true,
    // Only the samples of the document: generated from the spec's examples
    // and run against a live server by the contract tests.
    hiddenClients: true,
    authentication: { preferredSecurityScheme: "bearerAuth" },
    documentDownloadType: "both",
    searchHotKey: "k",
    defaultOpenAllTags: false,
  });
})();
