// The page of `cmpc-video serve`: upload a clip, add sentences, follow the job, play the overlay.
