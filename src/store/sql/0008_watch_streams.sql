-- Which streams someone follows live, and on which LISTEN connection (its backend pid).
-- A commit that notifies takes a cluster-wide lock until it is flushed, so notifying
-- commits are made one at a time; producers of events therefore notify only the streams
-- listed here (stream/hub.ts registers a stream when its first subscriber comes, removes
-- it when the last one goes). Rows of a connection that is gone are removed by whoever
-- notices first: they would only cost a needless notification.
CREATE TABLE stream_watch (
  stream_id uuid NOT NULL,
  listener integer NOT NULL,
  PRIMARY KEY (stream_id, listener)
);
