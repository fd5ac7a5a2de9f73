from training.feedback.run import main

raise SystemExit(main())
