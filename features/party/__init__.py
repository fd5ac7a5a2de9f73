"""Party work from the rosters and the study record: meeting slots for shift workers
(``meetings``) and the quantified monthly branch assessment (``assessment``)."""
