// Runs before the reference's bundle. The bundle keeps the API key a partner
// enters ("persistAuth") in localStorage, which outlives the tab and is shared
// by every tab of the site; the key belongs to this tab only. Its auth keys are
// kept in sessionStorage instead: a reload keeps the key, closing the tab
// forgets it.
(function () {
  "use strict";
  var prefix = "scalar-reference-auth";
  var local = window.localStorage;
  var session = window.sessionStorage;
  var proto = Object.getPrototypeOf(local);
  var get = proto.getItem, set = proto.setItem, remove = proto.removeItem;
  function redirected(store, key) {
    return store === local && typeof key === "string" && key.indexOf(prefix) === 0;
  }
  proto.getItem = function (key) {
    return redirected(this, key) ? get.call(session, key) : get.call(this, key);
  };
  proto.setItem = function (key, value) {
    return redirected(this, key) ? set.call(session, key, value) : set.call(this, key, value);
  };
  proto.removeItem = function (key) {
    return redirected(this, key) ? remove.call(session, key) : remove.call(this, key);
  };
  // Whatever an earlier version left behind goes.
  for (var i = local.length - 1; i >= 0; i--) {
    var k = local.key(i);
    if (k && k.indexOf(prefix) === 0) remove.call(local, k);
  }
})();
