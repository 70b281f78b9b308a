# Expected seconds of the longest tests (measured under ASan, the slowest run; the order is what
# counts). CTest starts the costliest tests first when it has no timings of its own yet, as on a
# clean clone in CI: one of them started last would keep a core busy alone at the end of the run.
# Included by CTest after the discovered tests (tests/CMakeLists.txt); names it does not know are
# ignored, and once CTest has timed a run (Testing/Temporary/CTestCostData.txt) its own figures win.
foreach(entry
    FuseShared.WorkTilesWriteTheWholeSceneFiles=200
    FuseShared.MpiAndShardsWriteTheSingleProcessFiles=170
    MlffGan.OverfitsATinyBatchReconstructionLoss=121
    Edcstfn.OverfitsATinyBatchWithFeatureLossOn=83
    FuseFill.EveryDayEveryPixelWithFlagsAndTheirBandNames=80
    FuseShared.AKilledTiledRunRedoesOnlyItsMissingTiles=78
    DeepCli.FuseResumesWithIdenticalFiles=76
    DemoCli.TinyDemoWritesAReportWithItsMaps=71
    DeepMethod.TileSizeDoesNotChangeThePrediction=64
    FuseShared.AKilledRankOrShardLosesOnlyItsUnfinishedDates=63
    FuseShared.OverwriteWithOtherSettingsIsRefusedWhileTheEarlierRunLearnedSomething=60
    DeepCli.StreamedPredictionEqualsInMemory=56
    DeepCli.TrainThenPredictWithTheModel=43
    ReliabilityDeepCli.TrainingOptionsOutOfRangeAreRefusedAtOnce=37
    FuseShared.ABadDateIsRecordedAndTheOthersFinish=37
    FillCli.WritesAFilledCatalogAndNamesBadOptions=35
    ReliabilityDeepCli.AFullDiskDuringFuseLeavesNoPartFileAndKeepsDoneDates=34
    FuseCube.NetCdfHasTheTimeAxisCrsAndValues=34
    FillCatalog.FilledPixelsAreCloseToTheTruth=34
    ReliabilityDeepCli.NetworkSizesOutOfRangeAreRefusedAtOnce=33
    Dlstfm.OverfitsATinyBatch=33
    FuseFill.WithoutReferenceStepsHolesStayAndAreNotFlagged=32
    ReliabilityCli.FolderOutputsAreNewEmptyOrTheirOwn=30
    FillCatalog.WritesEveryDayWithFlagsAndLeavesObservedPixelsAlone=29
    SttfnModel.OverfitsOneBatch=28
    DeepMethod.ACloudInOneReferenceLeavesTheOtherAlone=28
    ReliabilityDeepCli.AModelWithAZeroScaleIsRefusedAtLoad=27
    ReliabilityDeepCli.AFullDiskDuringTrainingGivesAnErrorAndKeepsTheEarlierModel=24
    Benchmark.CoarseOnlyDatesGetEveryPairAndAreScoredAgainstTheTruth=23
    DeepPlugin.EveryDeepMethodOfTheLibraryIsListedAndDescribedByTheProgram=22
    Yanco.EstarfmPredictsFebruary18FromTwoPairs=21
    Benchmark.SeriesMethodsGetEveryPairButNeverThePredictedDate=20
    ReliabilityCli.SingleFileOutputsNeverReplaceFilesLstfuseDidNotMake=19
    StfNet.OverfitsATinyBatch=18
    Benchmark.TrainingTakesEveryPairDateCloudyOnesToo=17
    )
  string(REPLACE "=" ";" pair "${entry}")
  list(GET pair 0 name)
  list(GET pair 1 seconds)
  set_tests_properties("${name}" PROPERTIES COST ${seconds})
endforeach()
