// Errors in plain words: what an HTTP status from davfs means to the user.

const reasons = {
  0: "the server could not be reached; check your connection",
  400: "that name is not allowed here",
  401: "your session has ended; log on again",
  403: "you do not have permission to do that",
  404: "it is not there any more (moved or deleted?)",
  405: "something with that name is already there",
  409: "the folder it goes into is not there any more",
  412: "something with that name is already there, or the file changed meanwhile",
  413: "the file is too large",
  415: "that name is not allowed here",
  423: "the file is in use or locked by someone else",
  502: "the file server gave a bad answer",
  503: "the file server is not available right now; try again shortly",
  504: "the file server took too long to answer",
  507: "the disk is full (or your quota is used up)",
};

// explain turns an error into a sentence, prefixed by what was being done:
// explain(err, `Could not delete "a.txt"`).
export function explain(err, doing) {
  const status = err && typeof err.status === "number" ? err.status : -1;
  let why = reasons[status];
  if (!why) why = status >= 500 ? "the server had a problem" : status > 0 ? `the server said ${status}` : "something went wrong";
  if (status === 401) setTimeout(() => { location.href = "/login?next=" + encodeURIComponent(location.pathname); }, 2500);
  return `${doing}: ${why}.`;
}
